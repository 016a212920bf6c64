//! Runs one `netstate import` of a directory in-process, as `vantage netstate import
//! --import DIR --loaded DIR --source S [--warehouse URL]` does, for profiling the importer
//! without the whole CLI: `import_dir DATA_DIR IMPORT LOADED SOURCE [URL]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(data), Some(import), Some(loaded), Some(source)) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        eprintln!("usage: import_dir DATA_DIR IMPORT LOADED SOURCE [URL]");
        std::process::exit(1);
    };
    let url = args.next().filter(|u| !u.is_empty() && u != "-");
    std::fs::create_dir_all(&data).expect("data dir");
    let data = vantage_core::DataDir::open(std::path::Path::new(&data)).expect("data dir");
    let mut wh = vantage_warehouse::Warehouse::open(url.as_deref(), &data).expect("warehouse");
    let opts = vantage_netstate::ImportOptions {
        import_dir: Some(import.into()),
        loaded_dir: Some(loaded.into()),
        source,
        ..Default::default()
    };
    let report = vantage_netstate::Importer::new(&mut wh, &data, opts).run().expect("import");
    if let Some(r) = report.rejection() {
        eprintln!("rejected: {r}");
        std::process::exit(3);
    }
}
