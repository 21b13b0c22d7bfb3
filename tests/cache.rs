//! Saved exp-map tables and operators, and the compile cache: a saved and loaded stage computes
//! exactly what the one compiled does (bit for bit); a file of another mesh, another version, cut
//! short or with a byte flipped is an error (never a panic); `convolve --cache` loads on the second run
//! what it compiled on the first; `convolve` runs the backward pass only when asked.

mod common;
use common::cli::{json, run, stderr, stdout};
use common::meshes::load;
use common::random::signal;
use common::TempDir;
use manifold_cnn::conv::{
    CompileCache, CompileEvent, Compiler, ConvOperator, ConvOptions, Gauge, KernelWeights, Layout,
    Quadrature, Real, Signals, SignalsMut, SpanningTree,
};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Padding, Radius};
use manifold_cnn::holonomy::HolonomyGroup;
use manifold_cnn::kernel::KernelBasis;
use manifold_cnn::Error;
use std::path::Path;
use std::process::Command;

fn params(padding: Padding) -> ExpMapOptions {
    ExpMapOptions::new()
        .rings(3)
        .directions(8)
        .radius(Radius::MeanEdgeLengths(2.5))
        .padding(padding)
}

/// Deterministic signals and weights, uniform in [−1, 1).
fn values<T: Real>(n: usize, seed: u64) -> Vec<T> {
    signal(n, seed).into_iter().map(T::from_f64).collect()
}

/// The forward pass of `op` on fixed signals (2 signals, 3 → 2 channels).
fn forward<T: Real>(op: &ConvOperator<T>) -> Vec<T> {
    let (n, nb) = (op.vertex_count(), op.basis_len());
    let x = values::<T>(2 * n * 3, 1);
    let w = values::<T>(nb * 3 * 2, 2);
    let mut out = vec![T::default(); 2 * n * 2];
    op.forward(
        Signals::new(&x, 2, 3).unwrap(),
        KernelWeights::new(&w, nb, 3, 2).unwrap(),
        SignalsMut::new(&mut out, 2, 2).unwrap(),
    );
    out
}

fn bits<T: Real>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

fn basis() -> manifold_cnn::kernel::ConstrainedBasis {
    KernelBasis::parse("harmonic:2:2")
        .unwrap()
        .constrain(&HolonomyGroup::trivial())
}

#[test]
fn saved_and_loaded_stages_compute_exactly_the_same() {
    for (spec, padding) in [
        ("icosphere:2", Padding::Zero),
        ("meshes/elephant.obj", Padding::Zero),
        ("meshes/mech_holes_shark.obj", Padding::Clamp),
    ] {
        let dir = TempDir::new("cache", "round-trip");
        let m = load(spec);
        let table = ExpMapTable::build(&m, &params(padding)).unwrap();
        table.save(dir.path("t.xmap")).unwrap();
        let loaded = ExpMapTable::load(dir.path("t.xmap"), &m).unwrap();
        assert!(loaded == table, "{spec}: the loaded table differs");
        assert_eq!(loaded.mesh_identity(), m.identity());

        let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        let options = ConvOptions::new().quadrature(Quadrature::Integral);
        let b = basis();
        let op = ConvOperator::<f32>::with_options(&m, &table, &b, &gauge, &options).unwrap();
        let from_loaded =
            ConvOperator::<f32>::with_options(&m, &loaded, &b, &gauge, &options).unwrap();
        let want = bits(&forward(&op));
        assert_eq!(
            bits(&forward(&from_loaded)),
            want,
            "{spec}: operator of the loaded table"
        );

        op.save(dir.path("op.conv")).unwrap();
        let op_loaded = ConvOperator::<f32>::load(dir.path("op.conv"), &m).unwrap();
        assert_eq!(op_loaded.mesh_identity(), m.identity());
        assert_eq!(op_loaded.quadrature(), Quadrature::Integral);
        assert_eq!(bits(&forward(&op_loaded)), want, "{spec}: loaded operator");
        assert_eq!(op_loaded.csr(), op.csr());
        // The backward pass too (it reads the transposed index, also saved).
        let (n, nb) = (op.vertex_count(), op.basis_len());
        let g = values::<f32>(2 * n * 2, 3);
        let w = values::<f32>(nb * 3 * 2, 2);
        let grad = |o: &ConvOperator<f32>| {
            let mut gx = vec![0f32; 2 * n * 3];
            o.input_gradient(
                Signals::new(&g, 2, 2).unwrap(),
                KernelWeights::new(&w, nb, 3, 2).unwrap(),
                SignalsMut::new(&mut gx, 2, 3).unwrap(),
            );
            bits(&gx)
        };
        assert_eq!(grad(&op_loaded), grad(&op), "{spec}: input gradient");

        // f64 likewise; a file of one scalar type is not loaded as the other.
        let op64 = ConvOperator::<f64>::with_options(&m, &table, &b, &gauge, &options).unwrap();
        op64.save(dir.path("op64.conv")).unwrap();
        let op64_loaded = ConvOperator::<f64>::load(dir.path("op64.conv"), &m).unwrap();
        assert_eq!(bits(&forward(&op64_loaded)), bits(&forward(&op64)));
        let e = ConvOperator::<f32>::load(dir.path("op64.conv"), &m).unwrap_err();
        assert!(e.to_string().contains("f64"), "{e}");
        assert!(ConvOperator::<f64>::load(dir.path("op.conv"), &m).is_err());
        // A table is not an operator, nor the reverse.
        let e = ConvOperator::<f32>::load(dir.path("t.xmap"), &m).unwrap_err();
        assert!(
            e.to_string().contains("not a saved convolution operator"),
            "{e}"
        );
        assert!(ExpMapTable::load(dir.path("op.conv"), &m).is_err());

        // An operator stored per function (bins) comes back in its layout, computing the same.
        let bins = KernelBasis::parse("bins:2:8").unwrap();
        let op = ConvOperator::<f32>::with_options(&m, &table, &bins, &gauge, &options).unwrap();
        assert_eq!(op.layout(), Layout::PerFunction, "{spec}");
        op.save(dir.path("bins.conv")).unwrap();
        let op_loaded = ConvOperator::<f32>::load(dir.path("bins.conv"), &m).unwrap();
        assert_eq!(op_loaded.layout(), Layout::PerFunction, "{spec}");
        assert_eq!(op_loaded.csr(), op.csr(), "{spec}: per function");
        assert_eq!(bits(&forward(&op_loaded)), bits(&forward(&op)), "{spec}");
        let w = values::<f32>(op.basis_len() * 3 * 2, 2);
        let grad = |o: &ConvOperator<f32>| {
            let mut gx = vec![0f32; 2 * n * 3];
            o.input_gradient(
                Signals::new(&g, 2, 2).unwrap(),
                KernelWeights::new(&w, o.basis_len(), 3, 2).unwrap(),
                SignalsMut::new(&mut gx, 2, 3).unwrap(),
            );
            bits(&gx)
        };
        assert_eq!(
            grad(&op_loaded),
            grad(&op),
            "{spec}: per function, input gradient"
        );
    }
}

#[test]
fn a_file_of_another_mesh_is_refused_naming_both() {
    let dir = TempDir::new("cache", "mismatch");
    // Same vertex count (162), different meshes.
    let (a, b) = (load("icosphere:2"), load("grid:18x9"));
    assert_eq!(a.identity().vertices, b.identity().vertices);
    let table = ExpMapTable::build(&a, &params(Padding::Zero)).unwrap();
    table.save(dir.path("t.xmap")).unwrap();
    let gauge = Gauge::new(&a, None, SpanningTree::Bfs).unwrap();
    let op = ConvOperator::<f32>::new(&a, &table, &basis(), &gauge).unwrap();
    op.save(dir.path("op.conv")).unwrap();
    let errors = [
        ExpMapTable::load(dir.path("t.xmap"), &b).unwrap_err(),
        ConvOperator::<f32>::load(dir.path("op.conv"), &b).unwrap_err(),
    ];
    for e in errors {
        assert!(
            matches!(e, Error::MeshMismatch { built_for, given, .. }
                if built_for == a.identity() && given == b.identity()),
            "{e:?}"
        );
        let text = e.to_string();
        for id in [a.identity(), b.identity()] {
            assert!(text.contains(&id.to_string()), "{text} should name {id}");
        }
    }
}

/// Every way of damaging a saved file is an `Err` (a panic fails the test).
fn assert_damage_refused(path: &Path, load: impl Fn(&Path) -> Result<(), Error>) {
    let good = std::fs::read(path).unwrap();
    load(path).expect("the undamaged file loads");
    let damaged = path.with_extension("damaged");
    let len = good.len();
    let try_bytes = |bytes: &[u8], what: String| {
        std::fs::write(&damaged, bytes).unwrap();
        let e = load(&damaged).expect_err(&what);
        assert!(
            e.to_string().contains(&damaged.display().to_string()),
            "{what}: the error names the file: {e}"
        );
        e
    };
    // Cut short anywhere: in the magic, the version, the header, each stretch of the arrays, the
    // checksum.
    let mut cuts = vec![0, 3, 8, 11, 12, 30, 60, len - 9, len - 8, len - 1];
    cuts.extend((1..16).map(|k| k * len / 16));
    for cut in cuts {
        let e = try_bytes(&good[..cut], format!("cut at {cut} of {len}"));
        if cut >= 64 {
            assert!(e.to_string().contains("truncated"), "cut at {cut}: {e}");
        }
    }
    // One byte more.
    let mut longer = good.clone();
    longer.push(0);
    try_bytes(&longer, "one trailing byte".into());
    // Another format version: earlier, later, byte-swapped (the file's own is at bytes 8..12).
    let own = u32::from_le_bytes(good[8..12].try_into().unwrap());
    for v in [0u32, own - 1, own + 1, own.swap_bytes()] {
        if v == own {
            continue;
        }
        let mut other = good.clone();
        other[8..12].copy_from_slice(&v.to_le_bytes());
        let e = try_bytes(&other, format!("version {v}"));
        assert!(e.to_string().contains("version"), "{e}");
    }
    // A flipped bit or byte anywhere.
    let mut at = 0;
    while at < len {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            // Flipping the mesh fields may give a mesh mismatch instead; any Err will do.
            std::fs::write(&damaged, &bad).unwrap();
            assert!(load(&damaged).is_err(), "byte {at} ^ {flip:#x} of {len}");
        }
        at += 1 + at / 3;
    }
}

#[test]
fn damaged_files_are_errors_never_panics() {
    let dir = TempDir::new("cache", "damage");
    let m = load("icosphere:2");
    let table = ExpMapTable::build(&m, &params(Padding::Zero)).unwrap();
    table.save(dir.path("t.xmap")).unwrap();
    assert_damage_refused(&dir.path("t.xmap"), |p| ExpMapTable::load(p, &m).map(drop));
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = ConvOperator::<f32>::new(&m, &table, &basis(), &gauge).unwrap();
    op.save(dir.path("op.conv")).unwrap();
    assert_damage_refused(&dir.path("op.conv"), |p| {
        ConvOperator::<f32>::load(p, &m).map(drop)
    });
    let bins = KernelBasis::parse("bins:1:8").unwrap();
    let op = ConvOperator::<f32>::new(&m, &table, &bins, &gauge).unwrap();
    assert_eq!(op.layout(), Layout::PerFunction);
    op.save(dir.path("bins.conv")).unwrap();
    assert_damage_refused(&dir.path("bins.conv"), |p| {
        ConvOperator::<f32>::load(p, &m).map(drop)
    });
    // Not a file at all, and an empty one.
    assert!(ExpMapTable::load(dir.path("missing.xmap"), &m).is_err());
    std::fs::write(dir.path("empty"), b"").unwrap();
    assert!(ConvOperator::<f32>::load(dir.path("empty"), &m).is_err());
}

#[test]
fn the_size_limit_of_saved_files_is_their_own() {
    // The general input limit does not apply to saved files (they may be larger than any mesh);
    // theirs does. Run in a child process, since it sets environment variables.
    if std::env::var("CACHE_TEST_CHILD").is_ok() {
        let m = load("icosphere:1");
        let dir = TempDir::new("cache", "limit");
        let table = ExpMapTable::build(&m, &params(Padding::Zero)).unwrap();
        table.save(dir.path("t.xmap")).unwrap();
        std::env::set_var("MANIFOLD_CNN_MAX_INPUT_BYTES", "100");
        ExpMapTable::load(dir.path("t.xmap"), &m).unwrap();
        std::env::set_var("MANIFOLD_CNN_MAX_CACHE_BYTES", "100");
        let e = ExpMapTable::load(dir.path("t.xmap"), &m).unwrap_err();
        assert!(
            e.to_string().contains("MANIFOLD_CNN_MAX_CACHE_BYTES"),
            "{e}"
        );
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "the_size_limit_of_saved_files_is_their_own",
            "--exact",
            "--nocapture",
        ])
        .env("CACHE_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stdout = stdout(&out);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}"
    );
}

#[test]
fn the_compiler_loads_what_it_compiled() {
    let dir = TempDir::new("cache", "compiler");
    let cache = CompileCache::new(dir.path("c")).unwrap();
    let m = load("icosphere:2");
    let b = basis();
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let options = ConvOptions::default();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut events = Vec::new();
        let mut report = |e: CompileEvent| events.push(format!("{e:?}"));
        let mut c = Compiler::new(&m, params(Padding::Zero), Some(&cache), &mut report);
        let op = c.operator::<f32, _>(&b, &gauge, &options).unwrap();
        drop(c);
        runs.push((bits(&forward(&op)), events));
    }
    let (first, second) = (&runs[0].1, &runs[1].1);
    assert!(
        first.iter().any(|e| e.starts_with("Saved { stage: Table"))
            && first
                .iter()
                .any(|e| e.starts_with("Saved { stage: Operator")),
        "{first:?}"
    );
    // The second run loads the operator and never needs the table.
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(
        second[0].starts_with("Loaded { stage: Operator"),
        "{second:?}"
    );
    assert_eq!(runs[0].0, runs[1].0);
    // Other parameters are other files: the operator is compiled (from the cached table).
    let options = ConvOptions::new().quadrature(Quadrature::Integral);
    let mut events = Vec::new();
    let mut report = |e: CompileEvent| events.push(format!("{e:?}"));
    let mut c = Compiler::new(&m, params(Padding::Zero), Some(&cache), &mut report);
    c.operator::<f32, _>(&b, &gauge, &options).unwrap();
    drop(c);
    assert!(events[0].starts_with("Loaded { stage: Table"), "{events:?}");
    assert!(events
        .iter()
        .any(|e| e.starts_with("Saved { stage: Operator")));
    let p = |params: &ExpMapOptions, g: &Gauge, q: Quadrature| {
        cache
            .operator_path::<f32, _>(&m, params, &b, g, &ConvOptions::new().quadrature(q))
            .unwrap()
    };
    let base = p(&params(Padding::Zero), &gauge, Quadrature::Mean);
    let random = Gauge::new(&m, None, SpanningTree::Random { seed: 3 }).unwrap();
    let mut wider = params(Padding::Zero);
    wider.radius = Radius::MeanEdgeLengths(2.6);
    for other in [
        p(&params(Padding::Clamp), &gauge, Quadrature::Mean),
        p(&params(Padding::Zero), &random, Quadrature::Mean),
        p(&params(Padding::Zero), &gauge, Quadrature::Integral),
        p(&wider, &gauge, Quadrature::Mean),
        cache
            .operator_path::<f64, _>(&m, &params(Padding::Zero), &b, &gauge, &ConvOptions::new())
            .unwrap(),
        cache
            .operator_path::<f32, _>(
                &m,
                &params(Padding::Zero),
                &KernelBasis::parse("harmonic:2:2").unwrap(),
                &gauge,
                &ConvOptions::new(),
            )
            .unwrap(),
    ] {
        assert_ne!(other, base);
    }
    // A damaged cache file is reported, compiled again and overwritten.
    let bytes = std::fs::read(&base).unwrap();
    std::fs::write(&base, &bytes[..bytes.len() / 2]).unwrap();
    let mut events = Vec::new();
    let mut report = |e: CompileEvent| events.push(format!("{e:?}"));
    let mut c = Compiler::new(&m, params(Padding::Zero), Some(&cache), &mut report);
    let op = c
        .operator::<f32, _>(&b, &gauge, &ConvOptions::default())
        .unwrap();
    drop(c);
    assert!(
        events[0].starts_with("Rejected { stage: Operator"),
        "{events:?}"
    );
    assert_eq!(bits(&forward(&op)), runs[0].0);
    assert_eq!(std::fs::read(&base).unwrap(), bytes);
}

// ----------------------------------------------------------------------------------------------------
// The command line

#[test]
fn convolve_loads_from_its_cache_on_the_second_run() {
    let dir = TempDir::new("cache", "cli");
    let m = load("icosphere:2");
    let n = m.mesh.vertex_count();
    dir.f32("x.npy", &[n as u64, 2], &values::<f32>(2 * n, 5));
    let (x, cache) = (dir.arg("x.npy"), dir.arg("cache"));
    let args = |out: &str| {
        vec![
            "convolve".to_string(),
            "icosphere:2".into(),
            "--signal".into(),
            x.clone(),
            "--kernel".into(),
            "random:7".into(),
            "--cache".into(),
            cache.clone(),
            "--out".into(),
            dir.arg(out),
            "--json".into(),
        ]
    };
    let run_args = |a: &[String]| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let call = |out: &str| json(&run_args(&args(out)));
    let first = call("y1.npy");
    assert_eq!(first["operator_cache"]["hit"], false, "{first}");
    let path = first["operator_cache"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let files: Vec<String> = std::fs::read_dir(dir.path("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f.starts_with("table-")), "{files:?}");
    assert!(
        files.iter().any(|f| f.starts_with("operator-f32-")),
        "{files:?}"
    );
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();

    let second = call("y2.npy");
    assert_eq!(second["operator_cache"]["hit"], true, "{second}");
    assert_eq!(second["operator_cache"]["path"], path.as_str());
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        written,
        "a hit does not rewrite the file"
    );
    assert_eq!(
        std::fs::read(dir.path("y1.npy")).unwrap(),
        std::fs::read(dir.path("y2.npy")).unwrap(),
        "the loaded operator gives the same output, bit for bit"
    );
    // The text output says so too.
    let mut a = args("y3.npy");
    a.retain(|s| s != "--json");
    let out = run_args(&a);
    let text = stdout(&out);
    assert!(out.status.success());
    assert!(text.contains("cache              hit"), "{text}");
}

#[test]
fn convolve_runs_the_backward_pass_only_when_asked() {
    let dir = TempDir::new("cache", "backward");
    let n = load("icosphere:1").mesh.vertex_count();
    dir.f32("x.npy", &[n as u64], &values::<f32>(n, 9));
    let x = dir.arg("x.npy");
    let base = [
        "convolve",
        "icosphere:1",
        "--signal",
        &x,
        "--kernel",
        "random:1",
    ];
    let without = json(&run(&[&base[..], &["--json"]].concat()));
    assert!(without.get("seconds_backward").is_none(), "{without}");
    assert!(without["seconds_forward"].is_number());
    let with = json(&run(&[&base[..], &["--json", "--backward"]].concat()));
    assert!(with["seconds_backward"].is_number(), "{with}");
    let text = run(&base);
    assert!(text.status.success());
    let text = stdout(&text);
    assert!(!text.contains("backward"), "{text}");
    let text = run(&[&base[..], &["--backward"]].concat());
    assert!(stdout(&text).contains("backward  "));
}

#[test]
fn train_compiles_a_data_set_once_with_a_cache() {
    let dir = TempDir::new("cache", "train");
    let model = dir.write(
        "model.json",
        r#"{
  "input_channels": 1, "outputs": 2, "task": "mesh", "group": "auto",
  "conv": { "basis": "harmonic:2:1", "rings": 2, "directions": 8, "radius_edges": 1.5 },
  "layers": [
    { "type": "conv", "channels": 2 }, { "type": "relu" },
    { "type": "global_pool", "mode": "mean" }, { "type": "dense", "units": 2 }
  ]
}"#,
    );
    let n = load("icosphere:1").mesh.vertex_count();
    dir.f32("a.npy", &[n as u64, 1], &values::<f32>(n, 1));
    dir.f32("b.npy", &[n as u64, 1], &values::<f32>(n, 2));
    let train = dir.write(
        "train.csv",
        "mesh,signals,labels\nicosphere:1,a.npy,0\nicosphere:1,b.npy,1\n",
    );
    let (model, train, cache) = (
        model.display().to_string(),
        train.display().to_string(),
        dir.arg("cache"),
    );
    let mut weights = Vec::new();
    for k in 0..2 {
        let out_dir = dir.arg(&format!("run{k}"));
        let out = run(&[
            "train", "--model", &model, "--train", &train, "--epochs", "1", "--seed", "1", "--out",
            &out_dir, "--cache", &cache,
        ]);
        let stderr = stderr(&out);
        assert!(out.status.success(), "{stderr}");
        // Loaded: the operator only (its table is not needed); written: the table and the operator.
        let said = if k == 0 {
            "0 operator(s) and table(s) loaded, 2 compiled and written"
        } else {
            "1 operator(s) and table(s) loaded, 0 compiled and written"
        };
        assert!(stderr.contains(said), "run {k}: {stderr}");
        weights.push(std::fs::read(dir.path(&format!("run{k}/model.safetensors"))).unwrap());
    }
    assert_eq!(
        weights[0], weights[1],
        "the same training from the cached operator"
    );
}

/// A model with field convolutions through the cache: the second compile loads the scalar operators
/// and, for the field convolutions, the level's exp-map table (it built the table again before);
/// the field operators themselves are compiled both times and equal.
#[test]
fn field_convolutions_take_their_table_from_the_cache() {
    use candle_core::DType;
    use manifold_cnn::nn::{coarser_levels, MeshLevels, Model, ModelSpec};
    let spec = ModelSpec::from_json(
        r#"{
  "input_channels": 1, "outputs": 2, "task": "mesh", "group": "so2",
  "conv": { "basis": "harmonic:1:1", "rings": 2, "directions": 8, "radius_edges": 1.5 },
  "layers": [
    { "type": "field_conv", "fields": "2x0+1x1" }, { "type": "field_relu" },
    { "type": "invariant" }, { "type": "global_pool" }, { "type": "dense", "units": 2 }
  ]
}"#,
        "test",
    )
    .unwrap();
    let model = Model::new(&spec, &HolonomyGroup::so2(), 1, DType::F32).unwrap();
    assert!(!model.field_kernels().is_empty());
    let dir = TempDir::new("cache", "fields");
    let cache = CompileCache::new(dir.path("c")).unwrap();
    let m = std::sync::Arc::new(load("icosphere:2"));
    let mut runs = Vec::new();
    for run in 0..2 {
        let mut events = Vec::new();
        let mut report = |e: CompileEvent| events.push(format!("{e:?}"));
        let levels = MeshLevels::compile_cached(
            m.clone(),
            coarser_levels("icosphere:2", model.pooling_levels()).unwrap(),
            &model.spec().conv,
            model.group(),
            false,
            Some(&cache),
            &mut report,
        )
        .unwrap()
        .with_fields_cached(model.field_kernels(), Some(&cache), &mut report)
        .unwrap();
        let (level, kernel) = &model.field_kernels()[0];
        // The field operators, saved: their bytes are the compile's result.
        let mut bytes = Vec::new();
        for (i, op) in levels
            .field_op(*level, kernel)
            .unwrap()
            .operators()
            .iter()
            .enumerate()
        {
            let path = dir.path(&format!("field-{run}-{i}.conv"));
            op.save(&path).unwrap();
            bytes.push(std::fs::read(&path).unwrap());
        }
        runs.push((bytes, events));
    }
    let (first, second) = (&runs[0].1, &runs[1].1);
    let has = |events: &[String], prefix: &str| events.iter().any(|e| e.starts_with(prefix));
    assert!(
        has(first, "Compiled { stage: Table") && has(first, "Saved { stage: Table"),
        "{first:?}"
    );
    assert!(
        has(second, "Loaded { stage: Operator") && has(second, "Loaded { stage: Table"),
        "{second:?}"
    );
    assert!(!has(second, "Compiled { stage: Table"), "{second:?}");
    assert_eq!(runs[0].0, runs[1].0);
}
