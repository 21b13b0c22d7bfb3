//! MNIST digits from an `.npz` archive (`data/mnist10k.npz`: 10,000 real digits; `data/SOURCES.md`
//! says where they come from).

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::npz::read_npz_u8;

/// Handwritten digits: `count` images of `height × width` 8-bit pixels (0 background, 255 ink) with
/// their classes 0–9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist {
    /// `count × height × width` pixels, image-major, each image row-major with row 0 at the top.
    pub images: Vec<u8>,
    /// `count` digits, 0–9.
    pub labels: Vec<u8>,
    /// Number of images.
    pub count: usize,
    /// Rows per image (28 for MNIST).
    pub height: usize,
    /// Columns per image (28 for MNIST).
    pub width: usize,
}

impl Mnist {
    /// The pixels of image `i`, row-major.
    ///
    /// # Panics
    /// If `i >= self.count`.
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.count, "image {i} of {}", self.count);
        let len = self.height * self.width;
        &self.images[i * len..(i + 1) * len]
    }
}

/// Reads an MNIST archive: an `.npz` with a `uint8` array `images` of shape `[n, H, W]` and a `uint8`
/// array `labels` of shape `[n]` with values 0–9.
///
/// # Errors
/// [`Error::Io`] naming the file and the array if the archive cannot be read, lacks an array, or an
/// array is not `uint8`; [`Error::Data`] naming the file and the array if a shape is wrong or a label is
/// not a digit.
///
/// # Example
/// ```
/// let mnist = manifold_cnn::data::load_mnist("data/mnist10k.npz").unwrap();
/// assert_eq!((mnist.count, mnist.height, mnist.width), (10_000, 28, 28));
/// assert_eq!(mnist.image(0).len(), 28 * 28);
/// ```
pub fn load_mnist(path: impl AsRef<Path>) -> Result<Mnist> {
    let path = path.as_ref();
    let bad = |message: String| Error::Data {
        path: path.display().to_string(),
        line: None,
        message,
    };
    let (image_shape, images) = read_npz_u8(path, "images")?;
    let (label_shape, labels) = read_npz_u8(path, "labels")?;
    let [count, height, width] = <[u64; 3]>::try_from(image_shape.as_slice())
        .map_err(|_| {
            bad(format!(
                "array 'images' has shape {image_shape:?}, expected [n, H, W]"
            ))
        })?
        .map(|d| d as usize);
    if label_shape != [count as u64] {
        return Err(bad(format!(
            "array 'labels' has shape {label_shape:?}, expected [{count}] (one per image)"
        )));
    }
    if let Some(i) = labels.iter().position(|&l| l > 9) {
        return Err(bad(format!(
            "array 'labels': element {i} is {}, not a digit 0-9",
            labels[i]
        )));
    }
    Ok(Mnist {
        images,
        labels,
        count,
        height,
        width,
    })
}
