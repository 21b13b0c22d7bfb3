//! Tests of `io::obj` (OBJ reading/writing) and `io::npz` (NumPy files).

mod common;

use std::path::PathBuf;

use manifold_cnn::io::npz::{self, NpzWriter};
use manifold_cnn::io::obj::{parse_obj, read_obj, write_obj};
use manifold_cnn::{Error, MeshSource};
use proptest::prelude::*;

use common::assert_abs_diff_eq_msg;
use common::cli::stderr;
use common::meshes::{data_path, mesh_path, repo_path};
use common::TempDir;

fn parse(text: &str) -> manifold_cnn::Result<MeshSource> {
    parse_obj(text.as_bytes(), "test.obj")
}

/// The line of a parse error (panics on anything else).
fn parse_error_line(r: manifold_cnn::Result<MeshSource>) -> usize {
    match r {
        Err(Error::Parse { line, .. }) => line,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Real meshes, cross-checked against tobj.
// ---------------------------------------------------------------------------------------------

const REAL_MESHES: &[(&str, usize, usize)] = &[
    ("bull", 6200, 12396),
    ("eight", 315, 634),
    ("elephant", 2775, 5558),
    ("fandisk", 6475, 12946),
    ("lion_head", 8356, 16674),
    ("mech_holes_shark", 5246, 10192),
    ("spider_nonmanifold", 722, 1368),
    ("teapot_unwelded", 792, 992),
];

#[test]
fn real_meshes_have_documented_counts() {
    for &(name, nv, nf) in REAL_MESHES {
        let path = mesh_path(&format!("{name}.obj"));
        let src = read_obj(&path).unwrap();
        assert_eq!(src.vertex_count, nv, "{name}");
        assert_eq!(src.faces.len(), nf, "{name}");
        assert_eq!(src.positions.as_ref().unwrap().len(), nv, "{name}");
        assert_eq!(src.vertex_lines.as_ref().unwrap().len(), nv, "{name}");
        assert_eq!(src.face_lines.as_ref().unwrap().len(), nf, "{name}");
        assert_eq!(src.name, path);
    }
}

#[test]
fn every_obj_in_meshes_matches_tobj() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("meshes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "obj"))
        .collect();
    files.sort();
    assert!(files.len() >= REAL_MESHES.len());
    let options = tobj::LoadOptions {
        triangulate: true,
        single_index: false,
        ignore_points: true,
        ignore_lines: true,
    };
    for path in files {
        let ours = read_obj(&path).unwrap();
        let positions = ours.positions.as_ref().unwrap();
        let (models, _materials) = tobj::load_obj(&path, &options).unwrap();
        let total: usize = models.iter().map(|m| m.mesh.indices.len() / 3).sum();
        assert_eq!(total, ours.faces.len(), "{}", path.display());
        let mut f = 0;
        for m in &models {
            let mesh = &m.mesh;
            for tri in mesh.indices.chunks_exact(3) {
                for k in 0..3 {
                    let theirs = &mesh.positions[3 * tri[k] as usize..3 * tri[k] as usize + 3];
                    let mine = positions[ours.faces[f][k] as usize];
                    for c in 0..3 {
                        // tobj parses straight to f32; we parse to f64. Allow the one rounding step.
                        let (a, b) = (mine[c] as f32, theirs[c]);
                        assert_abs_diff_eq_msg!(
                            a,
                            b,
                            epsilon = f32::EPSILON * b.abs(),
                            "{}: face {f} corner {k}: {mine:?} vs {theirs:?}",
                            path.display()
                        );
                    }
                }
                f += 1;
            }
        }
        // Our line numbers point at the lines the data came from.
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (v, &l) in ours.vertex_lines.as_ref().unwrap().iter().enumerate() {
            let xyz: Vec<f64> = lines[l - 1]
                .split_whitespace()
                .skip(1)
                .map(|t| t.parse().unwrap())
                .collect();
            assert_eq!(
                &xyz[..3],
                &positions[v][..],
                "{}: vertex {v}",
                path.display()
            );
        }
        for (i, &l) in ours.face_lines.as_ref().unwrap().iter().enumerate() {
            let idx: Vec<u32> = lines[l - 1]
                .split_whitespace()
                .skip(1)
                .map(|t| t.split('/').next().unwrap().parse::<u32>().unwrap() - 1)
                .collect();
            assert_eq!(&idx[..], &ours.faces[i][..], "{}: face {i}", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bad-input fixtures.
// ---------------------------------------------------------------------------------------------

#[test]
fn fixture_bad_number() {
    let path = data_path("bad_number.obj");
    match read_obj(&path) {
        Err(Error::Parse {
            path: p,
            line,
            message,
        }) => {
            assert_eq!(p, path.display().to_string());
            assert_eq!(line, 4);
            assert!(message.contains("1.0.0"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fixture_face_out_of_range() {
    assert_eq!(
        read_obj(data_path("face_out_of_range.obj")),
        Err(Error::FaceIndexOutOfRange {
            face: 2,
            line: Some(7),
            index: 6,
            vertices: 4
        })
    );
}

#[test]
fn fixture_face_negative_out_of_range() {
    assert_eq!(
        read_obj(data_path("face_negative_out_of_range.obj")),
        Err(Error::FaceIndexOutOfRange {
            face: 0,
            line: Some(5),
            index: -1,
            vertices: 4
        })
    );
}

#[test]
fn fixture_face_zero_index() {
    assert_eq!(
        parse_error_line(read_obj(data_path("face_zero_index.obj"))),
        6
    );
}

#[test]
fn fixture_short_face() {
    assert_eq!(parse_error_line(read_obj(data_path("short_face.obj"))), 5);
}

#[test]
fn fixture_invalid_utf8() {
    // Line 1 (comment) and line 2 (group name) are Latin-1 and ignored; line 4 is a vertex.
    let path = data_path("invalid_utf8.obj");
    match read_obj(&path) {
        Err(Error::Parse { line, message, .. }) => {
            assert_eq!(line, 4);
            assert!(message.contains("UTF-8"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fixture_line_continuation() {
    assert_eq!(
        parse_error_line(read_obj(data_path("line_continuation.obj"))),
        4
    );
}

#[test]
fn fixture_unknown_statement() {
    assert_eq!(
        parse_error_line(read_obj(data_path("unknown_statement.obj"))),
        3
    );
}

#[test]
fn fixture_nan_vertex_is_kept() {
    let src = read_obj(data_path("nan_vertex.obj")).unwrap();
    let p = src.positions.as_ref().unwrap();
    assert_eq!(src.vertex_count, 4);
    assert!(p[1][0].is_nan());
    assert_eq!(p[3][1], f64::NEG_INFINITY);
    assert_eq!(src.vertex_lines, Some(vec![2, 3, 4, 5]));
    assert_eq!(src.face_lines, Some(vec![6, 7]));
}

#[test]
fn fixture_nan_vertex_rejected_by_builder_with_its_line() {
    let src = read_obj(data_path("nan_vertex.obj")).unwrap();
    let err = manifold_cnn::Mesh::build(&src, &manifold_cnn::BuildOptions::default()).unwrap_err();
    assert_eq!(
        err,
        Error::NonFiniteCoordinate {
            vertex: 1,
            line: Some(3)
        }
    );
}

#[test]
fn fixture_empty() {
    let src = read_obj(data_path("empty.obj")).unwrap();
    assert_eq!(src.vertex_count, 0);
    assert!(src.faces.is_empty());
    assert_eq!(src.positions, Some(vec![]));
}

#[test]
fn missing_file_is_io_error() {
    let path = data_path("does_not_exist.obj");
    match read_obj(&path) {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, path.display().to_string()),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax.
// ---------------------------------------------------------------------------------------------

#[test]
fn corner_forms_relative_indices_and_fans() {
    let text = "# header\r\n\
                mtllib a.mtl\r\n\
                o thing\r\n\
                v 0 0 0\r\n\
                v 1 0 0 1.0\r\n\
                v 1 1 0 0.5 0.5 0.5\r\n\
                vt 0 0\r\n\
                vn 0 0 1\r\n\
                v\t0 1 0 1 0.2 0.3 0.4   # trailing comment\r\n\
                g g1\r\n\
                usemtl m\r\n\
                s off\r\n\
                f 1/1 2/1/1 3//1\r\n\
                \r\n\
                f -4 -2 -1 # relative\r\n\
                l 1 2\r\n\
                p 1\r\n\
                vp 0.5\r\n\
                v 2 0 0\r\n\
                f 1 2 5 3 4\r\n";
    let src = parse(text).unwrap();
    assert_eq!(src.vertex_count, 5);
    assert_eq!(
        src.positions.as_ref().unwrap(),
        &vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 1.0, 0.0],
            [0.0, 1.0, 0.0],
            [2.0, 0.0, 0.0]
        ]
    );
    assert_eq!(src.vertex_lines, Some(vec![4, 5, 6, 9, 19]));
    assert_eq!(
        src.faces,
        vec![[0, 1, 2], [0, 2, 3], [0, 1, 4], [0, 4, 2], [0, 2, 3]]
    );
    assert_eq!(src.face_lines, Some(vec![13, 15, 20, 20, 20]));
    assert_eq!(src.name, "test.obj");
    assert!(src.face_edge_lengths.is_none());
}

#[test]
fn positive_indices_may_refer_forward() {
    let src = parse("f 1 2 3\nv 0 0 0\nv 1 0 0\nv 0 1 0\n").unwrap();
    assert_eq!(src.faces, vec![[0, 1, 2]]);
    assert_eq!(src.face_lines, Some(vec![1]));
}

#[test]
fn no_final_newline_and_blank_lines() {
    let src = parse("\n\n   \nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3").unwrap();
    assert_eq!(src.vertex_lines, Some(vec![4, 5, 6]));
    assert_eq!(src.face_lines, Some(vec![7]));
}

#[test]
fn byte_order_mark_at_start_is_skipped() {
    let src = parse("\u{feff}v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n").unwrap();
    assert_eq!(src.vertex_lines, Some(vec![1, 2, 3]));
    assert_eq!(src.faces, vec![[0, 1, 2]]);
}

#[test]
fn special_float_spellings() {
    let src = parse("v NaN inf -Infinity\nv 1e3 -.5 +2.\n").unwrap();
    let p = src.positions.unwrap();
    assert!(p[0][0].is_nan() && p[0][1] == f64::INFINITY && p[0][2] == f64::NEG_INFINITY);
    assert_eq!(p[1], [1000.0, -0.5, 2.0]);
}

#[test]
fn parse_errors_name_the_line() {
    let v3 = "v 0 0 0\nv 1 0 0\nv 0 1 0\n";
    let cases: &[(&str, usize)] = &[
        ("v 0 0\n", 1),                      // too few coordinates
        ("v 0 0 0 1 2 3 4 5\n", 1),          // too many values
        ("v 0 0 0 red\n", 1),                // colour must be numeric
        ("v 0x10 0 0\n", 1),                 // no hex
        ("f 1 2 x\n", 4),                    // garbage index
        ("f 1 2 3/\n", 4),                   // empty texture index
        ("f 1 2 3/1/\n", 4),                 // empty normal index
        ("f 1 2 3/1/1/1\n", 4),              // too many slashes
        ("f 1 2 /1\n", 4),                   // no vertex index
        ("f 1 2 3/a\n", 4),                  // texture index not an integer
        ("f 1 2 99999999999999999999\n", 4), // overflows i64
        ("f\n", 4),                          // no corners
        ("f 1 -0 2\n", 4),                   // -0 is index 0
        ("curv 0 1 1 2\n", 4),               // free-form geometry
        ("surf 0 1 0 1 1 2 3 4\n", 4),       // free-form geometry
        ("\u{feff}v 0 0 0\n", 4),            // byte order mark is an unknown statement
        ("f 1 2 3 \\\n", 4),                 // continuation
        ("vertex 1 2 3\n", 4),               // unknown statement
    ];
    for &(tail, line) in cases {
        let text = format!("{v3}{tail}");
        let text = if line == 1 { tail.to_string() } else { text };
        assert_eq!(parse_error_line(parse(&text)), line, "{tail:?}");
    }
}

#[test]
fn first_out_of_range_face_is_reported() {
    // Face 1 has an index past the end (reported), face 2 a relative index before the start.
    let text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 5\nf -4 1 2\n";
    assert_eq!(
        parse(text),
        Err(Error::FaceIndexOutOfRange {
            face: 1,
            line: Some(5),
            index: 4,
            vertices: 3
        })
    );
    // The other way round.
    let text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf -4 1 2\nf 1 2 5\n";
    assert_eq!(
        parse(text),
        Err(Error::FaceIndexOutOfRange {
            face: 1,
            line: Some(5),
            index: -1,
            vertices: 3
        })
    );
    // Huge positive index (past u32).
    let text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 3 99999999999\n";
    assert_eq!(
        parse(text),
        Err(Error::FaceIndexOutOfRange {
            face: 2,
            line: Some(5),
            index: 99999999998,
            vertices: 3
        })
    );
    // Parse errors come first, wherever they are.
    assert_eq!(parse_error_line(parse("f 1 2 9\nv 0 0 0\nv 1 0 zz\n")), 3);
}

#[test]
fn write_then_read_is_exact() {
    let dir = TempDir::new("io", "write_then_read_is_exact");
    let path = dir.path("m.obj");
    let positions = vec![
        [0.1, -2.5e-300, 1.0e300],
        [1.0 / 3.0, f64::MIN_POSITIVE, -0.0],
        [f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
        [123456789.12345679, 5e-324, f64::MAX],
    ];
    let faces = vec![[0, 1, 2], [3, 2, 1]];
    write_obj(&path, &positions, &faces).unwrap();
    let src = read_obj(&path).unwrap();
    assert_eq!(src.faces, faces);
    let back = src.positions.unwrap();
    for (a, b) in positions.iter().zip(&back) {
        for c in 0..3 {
            assert!(a[c].to_bits() == b[c].to_bits() || (a[c].is_nan() && b[c].is_nan()));
        }
    }
    // Unwritable path.
    assert!(matches!(
        write_obj(dir.path("no/such/dir/m.obj"), &positions, &faces),
        Err(Error::Io { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Property tests: never panic; valid files parse to what was written.
// ---------------------------------------------------------------------------------------------

/// Checks the invariants of any result of `parse_obj` on `bytes`.
fn check_result(bytes: &[u8], r: manifold_cnn::Result<MeshSource>) {
    let n_lines = bytes.split(|&b| b == b'\n').count().max(1);
    match r {
        Ok(src) => {
            let p = src.positions.as_ref().unwrap();
            assert_eq!(p.len(), src.vertex_count);
            let vl = src.vertex_lines.as_ref().unwrap();
            let fl = src.face_lines.as_ref().unwrap();
            assert_eq!(vl.len(), src.vertex_count);
            assert_eq!(fl.len(), src.faces.len());
            for w in vl.windows(2).chain(fl.windows(2)) {
                assert!(w[0] <= w[1]);
            }
            assert!(vl.iter().chain(fl).all(|&l| l >= 1 && l <= n_lines));
            assert!(src
                .faces
                .iter()
                .flatten()
                .all(|&i| (i as usize) < src.vertex_count));
        }
        Err(Error::Parse { line, path, .. }) => {
            assert!(line >= 1 && line <= n_lines, "line {line} of {n_lines}");
            assert_eq!(path, "fuzz");
        }
        Err(Error::FaceIndexOutOfRange {
            line: Some(line),
            index,
            vertices,
            ..
        }) => {
            assert!(line >= 1 && line <= n_lines);
            assert!(index < 0 || index as usize >= vertices);
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

fn garbage_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v".to_string()),
        Just("f".to_string()),
        Just("vt".to_string()),
        Just("#".to_string()),
        Just("\\".to_string()),
        Just("/".to_string()),
        Just("//".to_string()),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("1e400".to_string()),
        Just("-0".to_string()),
        Just("\r".to_string()),
        "[-+]?[0-9]{1,3}",
        "[-+]?[0-9]{0,2}(/[-+]?[0-9]{0,2}){0,3}",
        "[-+]?[0-9]*\\.[0-9]*(e[-+]?[0-9]{1,3})?",
        "\\PC{0,4}",
    ]
}

fn garbage_obj() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::collection::vec(garbage_token(), 0..8), 0..30).prop_map(|lines| {
        lines
            .iter()
            .map(|l| l.join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// A valid mesh written in varied OBJ syntax, with the faces (as fans) it must parse to.
#[derive(Debug, Clone)]
struct ValidObj {
    text: String,
    positions: Vec<[f64; 3]>,
    faces: Vec<[u32; 3]>,
    face_lines: Vec<usize>,
}

fn valid_obj() -> impl Strategy<Value = ValidObj> {
    let coord = prop_oneof![-1e6f64..1e6, Just(0.0), Just(-0.0), Just(1e-310)];
    let vertex = prop::array::uniform3(coord);
    // Each statement: a vertex, or a polygon (corner picks, syntax choices), or filler.
    let polygon = prop::collection::vec((any::<prop::sample::Index>(), 0u8..6), 3..7);
    let stmt = prop_oneof![
        3 => vertex.prop_map(Stmt::V),
        3 => polygon.prop_map(Stmt::F),
        1 => (0u8..6).prop_map(Stmt::Filler),
    ];
    (prop::collection::vec(stmt, 1..40), any::<bool>()).prop_map(|(stmts, crlf)| {
        let eol = if crlf { "\r\n" } else { "\n" };
        // Vertices first count, so forward references are possible.
        let total = stmts.iter().filter(|s| matches!(s, Stmt::V(_))).count();
        let mut text = String::new();
        let mut positions = Vec::new();
        let mut faces = Vec::new();
        let mut face_lines = Vec::new();
        let mut line = 0;
        for s in stmts {
            line += 1;
            match s {
                Stmt::V(p) => {
                    text += &format!("v {:?} {:?} {:?}", p[0], p[1], p[2]);
                    positions.push(p);
                }
                Stmt::F(corners) if total > 0 => {
                    let mut idx = Vec::new();
                    text += "f";
                    for (pick, style) in corners {
                        // Relative indices only reach vertices defined so far.
                        let relative = style >= 4 && !positions.is_empty();
                        let i = if relative {
                            pick.index(positions.len())
                        } else {
                            pick.index(total)
                        };
                        let written = if relative {
                            i as i64 - positions.len() as i64
                        } else {
                            i as i64 + 1
                        };
                        text += &match style {
                            0 | 4 => format!(" {written}"),
                            1 => format!(" {written}/7"),
                            2 => format!("  {written}//3"),
                            _ => format!("\t{written}/1/-2"),
                        };
                        idx.push(i as u32);
                    }
                    for k in 1..idx.len() - 1 {
                        faces.push([idx[0], idx[k], idx[k + 1]]);
                        face_lines.push(line);
                    }
                }
                Stmt::F(_) => text += "# no vertices at all",
                Stmt::Filler(k) => {
                    text += [
                        "",
                        "# comment f 1 2",
                        "vn 0 0 1",
                        "g group name",
                        "   ",
                        "s 1",
                    ][k as usize]
                }
            }
            text += eol;
        }
        ValidObj {
            text,
            positions,
            faces,
            face_lines,
        }
    })
}

#[derive(Debug, Clone)]
enum Stmt {
    V([f64; 3]),
    F(Vec<(prop::sample::Index, u8)>),
    Filler(u8),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_result(&bytes, parse_obj(&bytes, "fuzz"));
    }

    #[test]
    fn obj_like_bytes_never_panic(
        lines in prop::collection::vec(
            prop_oneof![
                Just(b"v".to_vec()), Just(b"f".to_vec()), Just(b" ".to_vec()), Just(b"/".to_vec()),
                Just(b"\n".to_vec()), Just(b"\r\n".to_vec()), Just(b"-".to_vec()), Just(b"#".to_vec()),
                Just(b"1".to_vec()), Just(b"3".to_vec()), Just(b"0".to_vec()), Just(b".".to_vec()),
                Just(b"\xff".to_vec()), Just(b"\xc3".to_vec()), Just(b"\t".to_vec()), Just(b"e".to_vec()),
            ],
            0..200,
        )
    ) {
        let bytes = lines.concat();
        check_result(&bytes, parse_obj(&bytes, "fuzz"));
    }

    #[test]
    fn structured_garbage_never_panics(text in garbage_obj()) {
        check_result(text.as_bytes(), parse_obj(text.as_bytes(), "fuzz"));
    }

    #[test]
    fn valid_files_parse_exactly(obj in valid_obj()) {
        let src = parse_obj(obj.text.as_bytes(), "gen").unwrap();
        prop_assert_eq!(src.vertex_count, obj.positions.len());
        prop_assert_eq!(src.positions.as_ref().unwrap(), &obj.positions);
        prop_assert_eq!(&src.faces, &obj.faces);
        prop_assert_eq!(src.face_lines.as_ref().unwrap(), &obj.face_lines);
    }
}

// ---------------------------------------------------------------------------------------------
// NPZ / NPY.
// ---------------------------------------------------------------------------------------------

#[test]
fn npz_round_trip_all_types() {
    let dir = TempDir::new("io", "npz_round_trip_all_types");
    let path = dir.path("a.npz");
    let f64s: Vec<f64> = (0..12).map(|i| i as f64 * 0.25 - 1.0).collect();
    let f32s: Vec<f32> = vec![1.5, f32::NAN, f32::INFINITY, -0.0];
    let u32s: Vec<u32> = vec![0, 1, u32::MAX];
    let i64s: Vec<i64> = vec![i64::MIN, -1, 0, i64::MAX, 7, 8];
    let bools: Vec<bool> = vec![true, false, false, true, true];
    let mut w = NpzWriter::create(&path).unwrap();
    w.f64("pos", &[4, 3], &f64s).unwrap();
    w.f32("feat", &[2, 2], &f32s).unwrap();
    w.u32("faces", &[1, 3], &u32s).unwrap();
    w.i64("ids", &[2, 3], &i64s).unwrap();
    w.bool("mask", &[5], &bools).unwrap();
    w.f64("empty", &[0, 3], &[]).unwrap();
    w.f64("scalar", &[], &[2.5]).unwrap();
    w.finish().unwrap();

    let mut names = npz::npz_array_names(&path).unwrap();
    names.sort();
    assert_eq!(
        names,
        ["empty", "faces", "feat", "ids", "mask", "pos", "scalar"]
    );
    assert_eq!(
        npz::read_npz_f64(&path, "pos").unwrap(),
        (vec![4, 3], f64s.clone())
    );
    let (shape, back) = npz::read_npz_f32(&path, "feat").unwrap();
    assert_eq!(shape, vec![2, 2]);
    assert_eq!(back[0], 1.5);
    assert!(back[1].is_nan());
    assert_eq!(back[2], f32::INFINITY);
    assert!(back[3] == 0.0 && back[3].is_sign_negative());
    // Float readers convert between widths.
    let (_, wide) = npz::read_npz_f64(&path, "feat").unwrap();
    assert_eq!(wide[0], 1.5);
    let (_, narrow) = npz::read_npz_f32(&path, "pos").unwrap();
    assert_eq!(narrow, f64s.iter().map(|&x| x as f32).collect::<Vec<_>>());
    assert_eq!(
        npz::read_npz_u32(&path, "faces").unwrap(),
        (vec![1, 3], u32s)
    );
    assert_eq!(npz::read_npz_i64(&path, "ids").unwrap(), (vec![2, 3], i64s));
    assert_eq!(npz::read_npz_bool(&path, "mask").unwrap(), (vec![5], bools));
    assert_eq!(
        npz::read_npz_f64(&path, "empty").unwrap(),
        (vec![0, 3], vec![])
    );
    assert_eq!(
        npz::read_npz_f64(&path, "scalar").unwrap(),
        (vec![], vec![2.5])
    );

    // The bool array is numpy's '|b1'.
    let raw = std::fs::read(&path).unwrap();
    assert!(raw.windows(5).any(|w| w == b"'|b1'"));

    // Errors: missing array, wrong dtype, missing file.
    assert!(matches!(
        npz::read_npz_f64(&path, "nope"),
        Err(Error::Io { .. })
    ));
    match npz::read_npz_u32(&path, "ids") {
        Err(Error::Io {
            path: p, message, ..
        }) => {
            assert_eq!(p, path.display().to_string());
            assert!(message.contains("ids"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        npz::read_npz_f64(&path, "mask"),
        Err(Error::Io { .. })
    ));
    assert!(matches!(
        npz::read_npz_f64(dir.path("none.npz"), "pos"),
        Err(Error::Io { .. })
    ));
}

#[test]
fn npy_f32_round_trip_and_conversions() {
    let dir = TempDir::new("io", "npy_f32_round_trip_and_conversions");
    let path = dir.path("x.npy");
    let data: Vec<f32> = (0..24).map(|i| i as f32 / 7.0).collect();
    npz::write_npy_f32(&path, &[2, 3, 4], &data).unwrap();
    assert_eq!(
        npz::read_npy_f32(&path).unwrap(),
        (vec![2, 3, 4], data.clone())
    );
    let header = std::fs::read(&path).unwrap();
    assert!(header.starts_with(b"\x93NUMPY"));
    assert!(header.windows(5).any(|w| w == b"'<f4'"));

    // float64 is converted.
    let p64 = dir.path("x64.npy");
    let d64: Vec<f64> = vec![0.1, 0.2, 1e300];
    npyz::to_file_1d(&p64, d64.iter().copied()).unwrap();
    let (shape, back) = npz::read_npy_f32(&p64).unwrap();
    assert_eq!(shape, vec![3]);
    assert_eq!(back, vec![0.1f32, 0.2f32, f32::INFINITY]);

    // Other dtypes are refused.
    let pi = dir.path("i.npy");
    npyz::to_file_1d(&pi, [1i32, 2, 3]).unwrap();
    match npz::read_npy_f32(&pi) {
        Err(Error::Io { message, .. }) => assert!(message.contains("<i4"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Fortran order is refused (for arrays where it matters).
    let pf = dir.path("f.npy");
    {
        use npyz::WriterBuilder;
        let file = std::io::BufWriter::new(std::fs::File::create(&pf).unwrap());
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[2, 3])
            .order(npyz::Order::Fortran)
            .writer(file)
            .begin_nd()
            .unwrap();
        w.extend([1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        w.finish().unwrap();
    }
    match npz::read_npy_f32(&pf) {
        Err(Error::Io { message, .. }) => assert!(message.contains("Fortran"), "{message}"),
        other => panic!("{other:?}"),
    }

    // Garbage and truncation are errors, not panics.
    let pg = dir.path("g.npy");
    std::fs::write(&pg, b"not an npy file").unwrap();
    assert!(matches!(npz::read_npy_f32(&pg), Err(Error::Io { .. })));
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&pg, &full[..full.len() - 5]).unwrap();
    assert!(matches!(npz::read_npy_f32(&pg), Err(Error::Io { .. })));
}

#[test]
#[should_panic(expected = "shape")]
fn npz_shape_mismatch_panics() {
    let dir = TempDir::new("io", "npz_shape_mismatch_panics");
    let mut w = NpzWriter::create(dir.path("a.npz")).unwrap();
    let _ = w.f64("x", &[2, 2], &[1.0, 2.0, 3.0]);
}

#[test]
#[should_panic(expected = "shape")]
fn npy_shape_mismatch_panics() {
    let dir = TempDir::new("io", "npy_shape_mismatch_panics");
    let _ = npz::write_npy_f32(dir.path("a.npy"), &[3], &[1.0]);
}

/// If python3 with numpy is installed, check that numpy reads what we write; skipped otherwise.
#[test]
fn numpy_reads_our_files() {
    let has_numpy = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        eprintln!("numpy_reads_our_files: python3 with numpy not available, skipped");
        return;
    }
    let dir = TempDir::new("io", "numpy_reads_our_files");
    let npz_path = dir.path("a.npz");
    let npy_path = dir.path("b.npy");
    let mut w = NpzWriter::create(&npz_path).unwrap();
    w.f64("pos", &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.5])
        .unwrap();
    w.f32("f", &[3], &[1.0, 2.0, 3.0]).unwrap();
    w.u32("faces", &[1, 3], &[0, 1, 2]).unwrap();
    w.i64("ids", &[2], &[-5, 5]).unwrap();
    w.bool("mask", &[3], &[true, false, true]).unwrap();
    w.finish().unwrap();
    npz::write_npy_f32(&npy_path, &[2, 2], &[1.0, 2.0, 3.0, 4.5]).unwrap();
    let script = r#"
import sys, numpy as np
z = np.load(sys.argv[1])
assert z['pos'].dtype == np.float64 and z['pos'].shape == (2, 3) and z['pos'][1, 2] == 5.5
assert z['f'].dtype == np.float32 and list(z['f']) == [1, 2, 3]
assert z['faces'].dtype == np.uint32 and z['faces'].shape == (1, 3)
assert z['ids'].dtype == np.int64 and list(z['ids']) == [-5, 5]
assert z['mask'].dtype == np.bool_ and list(z['mask']) == [True, False, True]
b = np.load(sys.argv[2])
assert b.dtype == np.float32 and b.shape == (2, 2) and b[1, 1] == 4.5
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&npz_path)
        .arg(&npy_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// Speed (ignored by default): `cargo test --test io -- --ignored --nocapture` (opt-level 2).
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "writes a ~70 MB OBJ; run by hand to measure parse speed"]
fn large_obj_parse_speed() {
    let n = 1000usize; // n x n grid: 1M vertices, ~2M faces
    let mut positions = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let (x, y) = (i as f64 / n as f64, j as f64 / n as f64);
            positions.push([
                x * 1.2345678,
                y * 0.987654321,
                (x * 7.0).sin() * (y * 5.0).cos(),
            ]);
        }
    }
    let mut faces = Vec::with_capacity(2 * (n - 1) * (n - 1));
    for i in 0..n - 1 {
        for j in 0..n - 1 {
            let a = (i * n + j) as u32;
            let (b, c, d) = (a + 1, a + n as u32, a + n as u32 + 1);
            faces.push([a, b, d]);
            faces.push([a, d, c]);
        }
    }
    let dir = TempDir::new("io", "large_grid");
    let path = dir.path("large_grid.obj");
    let t = std::time::Instant::now();
    write_obj(&path, &positions, &faces).unwrap();
    let write_s = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).unwrap().len();
    let bytes = std::fs::read(&path).unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let src = parse_obj(&bytes, "large").unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(src.vertex_count, n * n);
        assert_eq!(src.faces, faces);
    }
    let t = std::time::Instant::now();
    let src = read_obj(&path).unwrap();
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(src.positions.unwrap(), positions);
    eprintln!(
        "large OBJ: {} vertices, {} faces, {:.1} MB; write {write_s:.2} s, parse (in memory, best of 3) \
         {best:.3} s = {:.0} MB/s, read_obj (with file read) {read_s:.3} s",
        n * n,
        faces.len(),
        size as f64 / 1e6,
        size as f64 / 1e6 / best
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn atomic_writes_keep_the_old_file_when_writing_fails() {
    use manifold_cnn::io::write_atomically;
    let dir = TempDir::new("io", "atomic");
    let path = dir.path("out.npy");
    write_atomically(&path, |tmp| {
        std::fs::write(tmp, b"first").unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    // A writer that fails half way (as a full disk would): the old file stays, no partial file is left.
    let err = write_atomically(&path, |tmp| {
        assert_eq!(tmp.extension().unwrap(), "npy", "the extension stays last");
        std::fs::write(tmp, b"half").unwrap();
        Err(manifold_cnn::Error::Io {
            path: tmp.display().to_string(),
            message: "no space left on device".into(),
            source: None,
        })
    })
    .unwrap_err();
    assert!(err.to_string().contains("no space left"));
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("out.npy")]);
}

/// The messages of two bad files say what is wrong: an index too large for any integer is out of
/// range (not a malformed corner), and CR-only line endings are named as such (not the "invalid
/// number" that reading the whole file as one line would give).
#[test]
fn huge_indices_and_cr_only_line_endings_are_named() {
    let message = |r: manifold_cnn::Result<MeshSource>| match r {
        Err(e @ Error::Parse { .. }) => e.to_string(),
        other => panic!("expected a parse error, got {other:?}"),
    };
    for index in ["99999999999999999999", "-99999999999999999999"] {
        let m = message(parse(&format!(
            "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 {index}\n"
        )));
        assert!(
            m.contains(":4:") && m.contains("out of range") && m.contains(index),
            "{m}"
        );
        assert!(!m.contains("malformed"), "{m}");
    }
    let m = message(parse("v 0 0 0\rv 1 0 0\rv 0 1 0\rf 1 2 3\r"));
    assert!(m.contains(":1:") && m.contains("CR-only"), "{m}");
    // CRLF stays fine.
    assert!(parse("v 0 0 0\r\nv 1 0 0\r\nv 0 1 0\r\nf 1 2 3\r\n").is_ok());
}

/// A `.npy` file cut short says so, with the bytes its header promises and the bytes it holds.
#[test]
fn a_truncated_npy_names_the_missing_bytes() {
    let dir = TempDir::new("io", "truncated");
    let path = dir.path("x.npy");
    manifold_cnn::io::npz::write_npy_f32(&path, &[10, 3], &[1.0; 30]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header = bytes.len() - 120;
    std::fs::write(&path, &bytes[..header + 50]).unwrap();
    let err = manifold_cnn::io::npz::read_npy_f32(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("truncated") && err.contains("promises 120 bytes") && err.contains("holds 50"),
        "{err}"
    );
}
