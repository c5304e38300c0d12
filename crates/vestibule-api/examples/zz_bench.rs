fn main() {
    let doc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: ns\nspec:\n  clusterIP: 10.0.0.1\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n    protocol: TCP\n  selector:\n    app: x\nstatus:\n  loadBalancer: {}\n";
    let t = std::time::Instant::now();
    for _ in 0..3000 {
        let v: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
        std::hint::black_box(v);
    }
    eprintln!("default opts 3000 parses: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let mut l = vestibule_api::Loaded::default();
    for i in 0..3000 {
        vestibule_api::load_str(
            "x.yaml",
            &doc.replace("name: a", &format!("name: a{i}")),
            &mut l,
        );
    }
    eprintln!("load_str 3000 docs: {:?}", t.elapsed());
    let big: String = (0..3000)
        .map(|i| doc.replace("name: a", &format!("name: a{i}")) + "---\n")
        .collect();
    let t = std::time::Instant::now();
    let mut l = vestibule_api::Loaded::default();
    vestibule_api::load_str("x.yaml", &big, &mut l);
    eprintln!("load_str 1 file of 3000 docs: {:?}", t.elapsed());
}
