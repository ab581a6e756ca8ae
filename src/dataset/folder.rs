//! Folders: of data set files (choosing the test split), of images (class sub-folders,
//! `<index>_<label>` samples, or unlabelled), and tar archives of images.

use super::source::open;
use super::{decode_image, kind_from_name, load_file, DatasetError, FileKind, Image};
use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Folders of images are searched this deep (`split/class/file` is 3).
const MAX_DEPTH: usize = 4;
/// Largest image file accepted inside an archive.
const MAX_MEMBER: u64 = 64 << 20;

/// Where the bytes of an image are.
enum Data {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// An image file found in a folder or an archive.
struct Item {
    /// Path components below the folder or archive root.
    rel: Vec<String>,
    /// For messages: the file path, or `archive:member`.
    source: String,
    data: Data,
}

/// Reads a folder: data set files in it first (the test split when there are several), else
/// the images below it.
pub(crate) fn load_dir(dir: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let name = dir.display().to_string();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DatasetError::io(&name, e))? {
        let entry = entry.map_err(|e| DatasetError::io(&name, e))?;
        let path = entry.path();
        if path.is_file() && !is_hidden(&entry.file_name().to_string_lossy()) {
            files.push(path);
        }
    }
    files.sort();

    let lower = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    };
    let of_kind = |kind: FileKind, keep: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
        files
            .iter()
            .filter(|p| kind_from_name(p) == Some(kind) && keep(&lower(p)))
            .cloned()
            .collect()
    };
    let groups = [
        of_kind(FileKind::Idx, &|n| {
            n.contains("idx3") || n.contains("images")
        }),
        of_kind(FileKind::Npz, &|n| {
            !n.contains("label") && !n.starts_with("y_")
        }),
        of_kind(FileKind::CifarBin, &|_| true),
        of_kind(FileKind::CifarPickle, &|_| true),
        of_kind(FileKind::Tar, &|_| true),
    ];
    for group in groups {
        if !group.is_empty() {
            let chosen = choose_split(dir, group)?;
            return load_file(&chosen, limit);
        }
    }

    let mut items = Vec::new();
    walk(dir, &mut Vec::new(), &mut items)?;
    let stem = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut order_dirs = vec![dir.to_path_buf()];
    order_dirs.extend(neighbour_dirs(dir));
    load_items(items, &name, &stem, &order_dirs, limit)
}

/// Reads a tar archive (optionally gzipped) of images.
pub(crate) fn load_tar(path: &Path, limit: Option<usize>) -> Result<Vec<Image>, DatasetError> {
    let name = path.display().to_string();
    let bad = |e: std::io::Error| {
        DatasetError::malformed(
            &name,
            format!("cannot read it as a tar archive ({e}); download or copy it again"),
        )
    };
    let mut archive = tar::Archive::new(open(path)?);
    let mut items = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map_err(bad)?.into_owned();
        let rel: Vec<String> = member
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let Some(file) = rel.last() else { continue };
        if rel.iter().any(|c| is_hidden(c)) || !is_image_name(file) {
            continue;
        }
        let size = entry.size();
        let source = format!("{name}:{}", rel.join("/"));
        if size > MAX_MEMBER {
            return Err(DatasetError::malformed(
                &source,
                format!(
                    "the image is {size} bytes; images of data sets are small: this is not one"
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes).map_err(bad)?;
        items.push(Item {
            rel,
            source,
            data: Data::Bytes(bytes),
        });
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = [".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|s| file_name.strip_suffix(s))
        .unwrap_or(&file_name)
        .to_string();
    load_items(items, &name, &stem, &neighbour_dirs(path), limit)
}

/// The folder holding `path`, and the `cifar10-partial` folder beside it or beside that
/// folder (the layout of the project's `shared/datasets`).
fn neighbour_dirs(path: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        dirs.push(parent.to_path_buf());
        dirs.push(parent.join("cifar10-partial"));
        dirs.push(parent.join("..").join("cifar10-partial"));
    }
    dirs
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e))
}

/// Among data set files of one kind, the one to read: the only one, or the test split.
fn choose_split(dir: &Path, files: Vec<PathBuf>) -> Result<PathBuf, DatasetError> {
    // The same file compressed and not: keep the uncompressed one.
    let mut by_base: BTreeMap<String, PathBuf> = BTreeMap::new();
    for f in files {
        let base = super::base_name(&f);
        let plain = !f.to_string_lossy().to_lowercase().ends_with(".gz");
        if plain || !by_base.contains_key(&base) {
            by_base.insert(base, f);
        }
    }
    let all: Vec<PathBuf> = by_base.into_values().collect();
    if let [one] = all.as_slice() {
        return Ok(one.clone());
    }
    let test: Vec<&PathBuf> = all
        .iter()
        .filter(|p| {
            let n = super::base_name(p);
            n.contains("test") || n.contains("t10k")
        })
        .collect();
    let names = |v: &[&PathBuf]| {
        v.iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match test.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(DatasetError::unrecognized(
            dir.display(),
            format!(
                "it holds several data files ({}) and none is a test split; give the file to \
                 read instead of the folder",
                names(&all.iter().collect::<Vec<_>>())
            ),
        )),
        many => Err(DatasetError::unrecognized(
            dir.display(),
            format!(
                "it holds several test files ({}); give the one to read instead of the folder",
                names(many)
            ),
        )),
    }
}

/// Collects the image files below `dir`.
fn walk(dir: &Path, rel: &mut Vec<String>, items: &mut Vec<Item>) -> Result<(), DatasetError> {
    let read = std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir.display(), e))?;
    for entry in read {
        let entry = entry.map_err(|e| DatasetError::io(dir.display(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_hidden(&name) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            if rel.len() + 1 < MAX_DEPTH {
                rel.push(name);
                walk(&path, rel, items)?;
                rel.pop();
            }
        } else if is_image_name(&name) {
            let mut r = rel.clone();
            r.push(name);
            items.push(Item {
                rel: r,
                source: path.display().to_string(),
                data: Data::File(path),
            });
        }
    }
    Ok(())
}

/// `a` and `b` compared with digit runs as numbers (`2.png` before `10.png`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (run(a), run(b));
                let trim = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
                let (da, db) = (&a[..na], &b[..nb]);
                let (ta, tb) = (&da[trim(da)..], &db[trim(db)..]);
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// `<index>_<label>` of a sample file name (`12_7.png` -> (12, 7)).
fn sample_name(file: &str) -> Option<(usize, usize)> {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let (index, label) = stem.split_once('_')?;
    Some((index.parse().ok()?, label.parse().ok()?))
}

/// Reads a label-order file: one integer label per line.
fn read_order(path: &Path) -> Result<Vec<usize>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path.display(), e))?;
    text.lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            l.parse().map_err(|_| {
                DatasetError::malformed(
                    path.display(),
                    format!(
                        "line {} is {l:?}, not a class label; a label-order file holds one \
                         integer label per line",
                        i + 1
                    ),
                )
            })
        })
        .collect()
}

/// The label-order file of split `split` in one of `dirs`, with its path for messages.
fn find_order(dirs: &[PathBuf], split: &str) -> Result<Option<(String, Vec<usize>)>, DatasetError> {
    for dir in dirs {
        for name in [
            format!("{split}_labels.txt"),
            format!("{split}_batch_labels.txt"),
        ] {
            let p = dir.join(&name);
            if p.is_file() {
                return Ok(Some((p.display().to_string(), read_order(&p)?)));
            }
        }
        if split == "train" {
            let parts: Vec<PathBuf> = (1..=5)
                .map(|i| dir.join(format!("data_batch_{i}_labels.txt")))
                .collect();
            if parts.iter().all(|p| p.is_file()) {
                let mut all = Vec::new();
                for p in &parts {
                    all.extend(read_order(p)?);
                }
                let shown = dir.join("data_batch_{1..5}_labels.txt");
                return Ok(Some((shown.display().to_string(), all)));
            }
        }
    }
    Ok(None)
}

/// Strips the leading folder that every item shares; returns it.
fn strip_common(items: &mut [Item]) -> Option<String> {
    let mut stripped = None;
    loop {
        let first = items.first()?.rel.first()?.clone();
        if items.iter().all(|i| i.rel.len() >= 2 && i.rel[0] == first) {
            for i in items.iter_mut() {
                i.rel.remove(0);
            }
            stripped = Some(first);
        } else {
            return stripped;
        }
    }
}

/// Orders and labels image items (see the module documentation of `dataset`), then decodes
/// the first `limit`.
fn load_items(
    mut items: Vec<Item>,
    root: &str,
    stem: &str,
    order_dirs: &[PathBuf],
    limit: Option<usize>,
) -> Result<Vec<Image>, DatasetError> {
    if items.is_empty() {
        return Err(DatasetError::unrecognized(
            root,
            "no images found: it holds no PNG or JPEG files (in it or in sub-folders), and no \
             data set files (IDX, .npz, CIFAR-10 batches, .tar); give a folder of images, one \
             sub-folder of images per class, or a data set file",
        ));
    }
    let mut split = strip_common(&mut items).unwrap_or_else(|| stem.to_string());
    if items.iter().any(|i| i.rel.len() >= 3) {
        // Several splits (train/, test/): keep the test split.
        let has_test = items.iter().any(|i| i.rel[0].eq_ignore_ascii_case("test"));
        if !has_test || items.iter().any(|i| i.rel.len() < 2) {
            let example = items
                .iter()
                .find(|i| i.rel.len() >= 3)
                .map(|i| i.rel.join("/"))
                .unwrap_or_default();
            return Err(DatasetError::unrecognized(
                root,
                format!(
                    "its images are nested more than one folder deep (e.g. {example}) and there \
                     is no `test` split folder; give the folder that holds one sub-folder per \
                     class"
                ),
            ));
        }
        items.retain(|i| i.rel[0].eq_ignore_ascii_case("test"));
        split = items[0].rel[0].clone();
        for i in &mut items {
            i.rel.remove(0);
        }
        if let Some(s) = strip_common(&mut items) {
            split = s;
        }
    }
    let depth = items[0].rel.len();
    if items.iter().any(|i| i.rel.len() != depth) || depth > 2 {
        return Err(DatasetError::unrecognized(
            root,
            "it mixes image files with sub-folders of images; give a folder of images or a \
             folder with one sub-folder per class",
        ));
    }
    let ordered: Vec<(Item, Option<usize>)> = if depth == 1 {
        arrange_flat(items)
    } else {
        arrange_classes(items, root, &split, order_dirs)?
    };
    let take = limit.map_or(ordered.len(), |l| l.min(ordered.len()));
    ordered
        .into_iter()
        .take(take)
        .map(|(item, label)| {
            let bytes = match item.data {
                Data::File(p) => std::fs::read(&p).map_err(|e| DatasetError::io(p.display(), e))?,
                Data::Bytes(b) => b,
            };
            let mut image = decode_image(&bytes, &item.source)?;
            image.label = label;
            Ok(image)
        })
        .collect()
}

/// Image files in one folder: `<index>_<label>` samples by index, else unlabelled in natural
/// name order.
fn arrange_flat(mut items: Vec<Item>) -> Vec<(Item, Option<usize>)> {
    let samples: Option<Vec<(usize, usize)>> =
        items.iter().map(|i| sample_name(&i.rel[0])).collect();
    match samples {
        Some(_) => {
            items.sort_by(|a, b| {
                let ka = sample_name(&a.rel[0]);
                let kb = sample_name(&b.rel[0]);
                ka.map(|k| k.0)
                    .cmp(&kb.map(|k| k.0))
                    .then_with(|| natural_cmp(&a.rel[0], &b.rel[0]))
            });
            items
                .into_iter()
                .map(|i| {
                    let label = sample_name(&i.rel[0]).map(|k| k.1);
                    (i, label)
                })
                .collect()
        }
        None => {
            items.sort_by(|a, b| natural_cmp(&a.rel[0], &b.rel[0]));
            items.into_iter().map(|i| (i, None)).collect()
        }
    }
}

/// One sub-folder per class: labels from the folder names; order from a label-order file, or
/// the classes interleaved.
fn arrange_classes(
    items: Vec<Item>,
    root: &str,
    split: &str,
    order_dirs: &[PathBuf],
) -> Result<Vec<(Item, Option<usize>)>, DatasetError> {
    if items.iter().all(|i| sample_name(&i.rel[1]).is_some()) {
        let mut folders: Vec<&str> = items.iter().map(|i| i.rel[0].as_str()).collect();
        folders.sort_unstable();
        folders.dedup();
        return Err(DatasetError::unrecognized(
            root,
            format!(
                "its sub-folders ({}) hold `<index>_<label>` sample images, not classes; give \
                 one of the sub-folders",
                folders.join(", ")
            ),
        ));
    }
    let mut names: Vec<String> = items.iter().map(|i| i.rel[0].clone()).collect();
    names.sort();
    names.dedup();
    let numeric: Option<Vec<usize>> = names.iter().map(|n| n.parse().ok()).collect();
    let label_of: BTreeMap<String, usize> = match numeric {
        Some(values) => names.iter().cloned().zip(values).collect(),
        None => names.iter().cloned().zip(0..).collect(),
    };
    let mut classes: BTreeMap<usize, Vec<Item>> = BTreeMap::new();
    for item in items {
        let label = label_of.get(&item.rel[0]).copied().unwrap_or(0);
        classes.entry(label).or_default().push(item);
    }
    let mut queues: BTreeMap<usize, VecDeque<Item>> = classes
        .into_iter()
        .map(|(label, mut v)| {
            v.sort_by(|a, b| natural_cmp(&a.rel[1], &b.rel[1]));
            (label, VecDeque::from(v))
        })
        .collect();
    let mut out = Vec::new();
    if let Some((order_path, order)) = find_order(order_dirs, split)? {
        let total: usize = queues.values().map(VecDeque::len).sum();
        let mismatch = |what: String| {
            DatasetError::malformed(
                &order_path,
                format!(
                    "this label-order file does not match the class folders of {root}: {what}; \
                     remove or fix the file (it must list the label of every image, in data \
                     set order)"
                ),
            )
        };
        if order.len() != total {
            return Err(mismatch(format!(
                "it lists {} labels for {total} images",
                order.len()
            )));
        }
        for (i, &label) in order.iter().enumerate() {
            let item = queues
                .get_mut(&label)
                .and_then(VecDeque::pop_front)
                .ok_or_else(|| {
                    mismatch(format!(
                        "line {} asks for one more image of class {label} than its folder holds",
                        i + 1
                    ))
                })?;
            out.push((item, Some(label)));
        }
        return Ok(out);
    }
    while queues.values().any(|q| !q.is_empty()) {
        for (&label, q) in queues.iter_mut() {
            if let Some(item) = q.pop_front() {
                out.push((item, Some(label)));
            }
        }
    }
    Ok(out)
}
