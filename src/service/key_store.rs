//! Where a service keeps the evaluation keys clients upload: on disk under a folder (so a
//! restart, or another replica sharing the folder, finds them) or in memory, within a byte cap,
//! evicting the least recently used keys first.
//!
//! A key id is the first 128 bits of the SHA-256 of the key bytes, in hex: uploading the same
//! keys twice gives the same id, and an id from a request is checked to be 32 hex digits before
//! it names a file. Files are written to a temporary name and renamed, so a crash leaves no half
//! key under a valid id; the order of use survives restarts as the files' modification times.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// The name of an uploaded key set: 32 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// The id of these key bytes.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Self(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads an id given by a client; `None` unless it is 32 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why the key store refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// One key set is larger than the whole store may hold.
    #[error(
        "the evaluation keys ({bytes} bytes) are larger than the key store may hold ({cap} \
         bytes); start the server with a larger --key-store-bytes"
    )]
    TooLarge {
        /// Size of the keys.
        bytes: u64,
        /// The store's cap.
        cap: u64,
    },
    /// The folder could not be read or written.
    #[error("key store {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// One stored key set.
#[derive(Debug)]
struct Entry {
    bytes: u64,
    /// Logical time of the last use (larger is more recent).
    last_used: u64,
    /// The key bytes, for a store in memory.
    blob: Option<Arc<Vec<u8>>>,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<KeyId, Entry>,
    clock: u64,
    total: u64,
}

impl Index {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// Evaluation keys by id, within a byte cap, least recently used evicted first.
#[derive(Debug)]
pub struct KeyStore {
    dir: Option<PathBuf>,
    cap: u64,
    index: Mutex<Index>,
}

const SUFFIX: &str = "evk";

impl KeyStore {
    /// A store that keeps keys in memory only (they are lost when the process ends).
    pub fn in_memory(cap: u64) -> Self {
        Self {
            dir: None,
            cap,
            index: Mutex::default(),
        }
    }

    /// A store in `dir` (created if missing), holding the keys found there from an earlier run
    /// in their order of use. Leftover temporary files of an interrupted upload are removed.
    pub fn open(dir: &Path, cap: u64) -> Result<Self, KeyStoreError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| KeyStoreError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                // An upload interrupted before its rename; never visible under an id.
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(id) = name
                .strip_suffix(&format!(".{SUFFIX}"))
                .and_then(KeyId::parse)
            else {
                continue;
            };
            let meta = entry.metadata().map_err(io_err(&path))?;
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push((used, id, meta.len()));
        }
        found.sort();
        let mut index = Index::default();
        for (_, id, bytes) in found {
            let last_used = index.tick();
            index.total += bytes;
            index.entries.insert(
                id,
                Entry {
                    bytes,
                    last_used,
                    blob: None,
                },
            );
        }
        let store = Self {
            dir: Some(dir.to_owned()),
            cap,
            index: Mutex::new(index),
        };
        // A smaller cap than the last run's: evict down to it now.
        store.evict_to(&mut store.lock(), 0)?;
        Ok(store)
    }

    /// The folder, for a store on disk.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The byte cap.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves a consistent index (every update is a single
        // insert or remove), so a poisoned lock is still usable.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, id: &KeyId) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.{SUFFIX}", id.as_str())))
    }

    /// Number of key sets and their bytes.
    pub fn stats(&self) -> (usize, u64) {
        let index = self.lock();
        (index.entries.len(), index.total)
    }

    /// Stores `bytes` (already checked to be evaluation keys of the circuit) and returns their
    /// id and the ids evicted to make room.
    pub fn put(&self, bytes: &[u8]) -> Result<(KeyId, Vec<KeyId>), KeyStoreError> {
        let size = bytes.len() as u64;
        if size > self.cap {
            return Err(KeyStoreError::TooLarge {
                bytes: size,
                cap: self.cap,
            });
        }
        let id = KeyId::of(bytes);
        let mut index = self.lock();
        if index.entries.contains_key(&id) {
            self.touch(&mut index, &id);
            return Ok((id, Vec::new()));
        }
        let evicted = self.evict_to(&mut index, size)?;
        let blob = match self.path(&id) {
            Some(path) => {
                let tmp = path.with_extension("tmp");
                let io_err = |source| KeyStoreError::Io {
                    path: path.clone(),
                    source,
                };
                fs::write(&tmp, bytes).map_err(io_err)?;
                fs::rename(&tmp, &path).map_err(io_err)?;
                None
            }
            None => Some(Arc::new(bytes.to_vec())),
        };
        let last_used = index.tick();
        index.total += size;
        index.entries.insert(
            id.clone(),
            Entry {
                bytes: size,
                last_used,
                blob,
            },
        );
        Ok((id, evicted))
    }

    /// The keys stored under `id`, marked as just used; `None` if there are none. A store on
    /// disk also finds keys another replica sharing the folder stored after this one started.
    pub fn get(&self, id: &KeyId) -> Result<Option<Arc<Vec<u8>>>, KeyStoreError> {
        let mut index = self.lock();
        let known = index.entries.contains_key(id);
        if let Some(Entry {
            blob: Some(blob), ..
        }) = index.entries.get(id)
        {
            let blob = blob.clone();
            self.touch(&mut index, id);
            return Ok(Some(blob));
        }
        let Some(path) = self.path(id) else {
            return Ok(None);
        };
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if known {
                    // Removed behind our back (another replica evicted it).
                    if let Some(entry) = index.entries.remove(id) {
                        index.total -= entry.bytes;
                    }
                }
                return Ok(None);
            }
            Err(source) => return Err(KeyStoreError::Io { path, source }),
        };
        if !known {
            let last_used = index.tick();
            index.total += bytes.len() as u64;
            index.entries.insert(
                id.clone(),
                Entry {
                    bytes: bytes.len() as u64,
                    last_used,
                    blob: None,
                },
            );
            self.evict_to(&mut index, 0)?;
        } else {
            self.touch(&mut index, id);
        }
        Ok(Some(Arc::new(bytes)))
    }

    /// Removes a key set (e.g. one whose file no longer reads as keys of this circuit).
    pub fn remove(&self, id: &KeyId) {
        let mut index = self.lock();
        if let Some(entry) = index.entries.remove(id) {
            index.total -= entry.bytes;
            if let Some(path) = self.path(id) {
                let _ = fs::remove_file(path);
            }
        }
    }

    fn touch(&self, index: &mut Index, id: &KeyId) {
        let now = index.tick();
        if let Some(entry) = index.entries.get_mut(id) {
            entry.last_used = now;
        }
        if let Some(path) = self.path(id) {
            // The order of use for the next start; failing to record it is harmless.
            if let Ok(file) = fs::File::options().append(true).open(path) {
                let _ = file.set_modified(SystemTime::now());
            }
        }
    }

    /// Evicts least recently used keys until `incoming` more bytes fit under the cap.
    fn evict_to(&self, index: &mut Index, incoming: u64) -> Result<Vec<KeyId>, KeyStoreError> {
        let mut evicted = Vec::new();
        while index.total + incoming > self.cap {
            let Some(oldest) = index
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            if let Some(entry) = index.entries.remove(&oldest) {
                index.total -= entry.bytes;
            }
            if let Some(path) = self.path(&oldest) {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => return Err(KeyStoreError::Io { path, source }),
                }
            }
            evicted.push(oldest);
        }
        Ok(evicted)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly")]
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("blindfold-keystore-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn ids_are_content_hashes_and_requests_cannot_name_other_files() {
        assert_eq!(KeyId::of(b"abc"), KeyId::of(b"abc"));
        assert_ne!(KeyId::of(b"abc"), KeyId::of(b"abd"));
        assert_eq!(KeyId::of(b"abc").as_str().len(), 32);
        assert!(KeyId::parse(KeyId::of(b"x").as_str()).is_some());
        for bad in [
            "../../etc/passwd",
            "",
            "ABCDEF0123456789abcdef0123456789",
            "0.evk",
        ] {
            assert!(KeyId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_least_recently_used_keys_go_first_and_the_order_survives_a_restart() {
        let dir = temp_dir("lru");
        let store = KeyStore::open(&dir, 30).unwrap();
        let (a, _) = store.put(&[1; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (b, _) = store.put(&[2; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (c, _) = store.put(&[3; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(store.get(&a).unwrap().is_some()); // a is now the most recent
        drop(store);

        let store = KeyStore::open(&dir, 30).unwrap();
        assert_eq!(store.stats(), (3, 30));
        let (d, evicted) = store.put(&[4; 10]).unwrap();
        assert_eq!(evicted, std::slice::from_ref(&b));
        assert!(store.get(&b).unwrap().is_none());
        for id in [&a, &c, &d] {
            assert!(store.get(id).unwrap().is_some());
        }
        assert!(matches!(
            store.put(&[5; 31]),
            Err(KeyStoreError::TooLarge { bytes: 31, cap: 30 })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_replica_sharing_the_folder_finds_keys_stored_after_it_started() {
        let dir = temp_dir("shared");
        let first = KeyStore::open(&dir, 100).unwrap();
        let second = KeyStore::open(&dir, 100).unwrap();
        let (id, _) = first.put(&[7; 10]).unwrap();
        assert_eq!(second.get(&id).unwrap().unwrap().as_slice(), &[7; 10]);
        first.remove(&id);
        assert!(second.get(&id).unwrap().is_none());
        assert_eq!(second.stats(), (0, 0));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_store_in_memory_keeps_the_bytes() {
        let store = KeyStore::in_memory(15);
        let (a, _) = store.put(&[1; 10]).unwrap();
        assert_eq!(store.get(&a).unwrap().unwrap().len(), 10);
        let (_, evicted) = store.put(&[2; 10]).unwrap();
        assert_eq!(evicted, std::slice::from_ref(&a));
        assert!(store.get(&a).unwrap().is_none());
    }
}
