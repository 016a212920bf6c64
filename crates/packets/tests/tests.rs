//! Integration and conformance tests of the packet recorder (one binary, modules per area).

#[path = "suite/conformance.rs"]
mod conformance;
#[path = "suite/console.rs"]
mod console;
#[path = "suite/live.rs"]
mod live;
#[path = "suite/pcapng.rs"]
mod pcapng;
#[path = "suite/record.rs"]
mod record;
#[path = "suite/warehouse.rs"]
mod warehouse;
