//! Temporary directories and the fixtures tests write into them.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use npyz::WriterBuilder;

/// A temporary directory of one test, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after the test file (`prefix`) and the test (`name`).
    pub fn new(prefix: &str, name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "manifold-cnn-{prefix}-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The path of `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// That path as a command-line argument.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Writes a text file and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        std::fs::write(self.path(name), text).unwrap();
        self.path(name)
    }

    /// float32 signals, as the library writes them.
    pub fn f32(&self, name: &str, shape: &[u64], data: &[f32]) {
        manifold_cnn::io::npz::write_npy_f32(self.path(name), shape, data).unwrap();
    }

    /// A `.npy` array of any numpy dtype (that of `T`): integer labels, float64 signals.
    pub fn npy<T: npyz::AutoSerialize + Copy>(&self, name: &str, shape: &[u64], data: &[T]) {
        let file = BufWriter::new(File::create(self.path(name)).unwrap());
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(file)
            .begin_nd()
            .unwrap();
        for x in data {
            w.push(x).unwrap();
        }
        w.finish().unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
