//! NumPy `.npy` tensors (format version 1.0, little-endian float32), via
//! ndarray-npy. `numpy.load(path)` reads every tensor ser writes.

use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

pub fn write_1d(values: &[f32]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128 + values.len() * 4);
    Array1::from(values.to_vec()).write_npy(&mut out)?;
    Ok(out)
}

pub fn read_1d(bytes: &[u8]) -> anyhow::Result<Vec<f32>> {
    Ok(Array1::<f32>::read_npy(bytes)?.to_vec())
}

pub fn write_2d(values: &Array2<f32>) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128 + values.len() * 4);
    values.write_npy(&mut out)?;
    Ok(out)
}

pub fn read_2d(bytes: &[u8]) -> anyhow::Result<Array2<f32>> {
    Ok(Array2::<f32>::read_npy(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_numpy_header() {
        let bytes = write_1d(&[1.0, 2.5]).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        assert!(String::from_utf8_lossy(&bytes[..128]).contains("'descr': '<f4'"));
        assert_eq!(read_1d(&bytes).unwrap(), [1.0, 2.5]);
        let m = Array2::from_shape_vec((2, 3), (0..6).map(|v| v as f32).collect()).unwrap();
        assert_eq!(read_2d(&write_2d(&m).unwrap()).unwrap(), m);
    }
}
