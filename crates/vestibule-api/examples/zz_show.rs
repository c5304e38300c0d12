fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let t = std::time::Instant::now();
    let l = vestibule_api::load_paths(&paths);
    eprintln!("took {:?}", t.elapsed());
    for e in &l.errors {
        println!("E {e}");
    }
    for w in &l.warnings {
        println!("W {w}");
    }
    println!(
        "services {} ns {} vs {} gw {}",
        l.inputs.services.len(),
        l.inputs.namespaces.len(),
        l.inputs.virtual_services.len(),
        l.inputs.gateways.len()
    );
}
