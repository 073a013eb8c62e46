//! Packs: many cache files in one remote object, and their index.
//!
//! A pack is its members' bytes concatenated; its name is the blake3 of
//! those bytes. Its index (`<name>.idx`, JSON) lists each member's cache
//! path, offset, length and blake3. Members are read back with ranged GETs
//! (nearby ranges coalesced into one request), so a read-through of one
//! record does not download the pack around it.

use serde::{Deserialize, Serialize};

/// Index format version; an index of another version is skipped with a
/// warning, never misread.
pub const FORMAT: u32 = 1;

/// Packs are cut at about this size: big enough that per-request costs
/// vanish, small enough that a push or pull of a few hundred MB still has
/// several transfers to run side by side.
pub const TARGET_SIZE: u64 = 16 << 20;

/// One member of a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Cache path, e.g. `objects/ab/<blake3>.npy`, `items/extract/ab/<key>.json`.
    pub path: String,
    pub offset: u64,
    pub len: u64,
    /// blake3 of the member's bytes.
    pub blake3: String,
}

/// The `.idx` file of a pack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackIndex {
    pub format: u32,
    /// The pack's name (blake3 of its bytes).
    pub pack: String,
    pub size: u64,
    pub members: Vec<Member>,
}

/// A pack being assembled in memory.
#[derive(Default)]
pub struct PackBuilder {
    bytes: Vec<u8>,
    members: Vec<Member>,
}

impl PackBuilder {
    pub fn add(&mut self, path: &str, bytes: &[u8]) {
        self.members.push(Member {
            path: path.to_string(),
            offset: self.bytes.len() as u64,
            len: bytes.len() as u64,
            blake3: blake3::hash(bytes).to_hex().to_string(),
        });
        self.bytes.extend_from_slice(bytes);
    }

    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The pack's bytes and its index.
    pub fn finish(self) -> (Vec<u8>, PackIndex) {
        let pack = blake3::hash(&self.bytes).to_hex().to_string();
        let index = PackIndex {
            format: FORMAT,
            pack,
            size: self.bytes.len() as u64,
            members: self.members,
        };
        (self.bytes, index)
    }
}

/// Check a member's bytes before they enter a cache: against the blake3
/// in the index and, for an object, against its own name too (an object's
/// name is the hash of its bytes, whatever an index says).
pub fn verify(member: &Member, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() as u64 != member.len {
        return Err(format!(
            "{}: truncated ({} of {} bytes)",
            member.path,
            bytes.len(),
            member.len
        ));
    }
    let hash = blake3::hash(bytes).to_hex().to_string();
    if hash != member.blake3 {
        return Err(format!("{}: blake3 mismatch (corrupt)", member.path));
    }
    if member.path.starts_with("objects/") {
        let name = member.path.rsplit('/').next().unwrap_or_default();
        let named = name.split('.').next().unwrap_or_default();
        if named != hash {
            return Err(format!(
                "{}: content does not match the object's name (corrupt)",
                member.path
            ));
        }
    }
    Ok(())
}

pub fn pack_key(pack: &str) -> String {
    format!("packs/{pack}.pack")
}

pub fn index_key(pack: &str) -> String {
    format!("packs/{pack}.idx")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_found_and_verified() {
        let object = b"signal bytes";
        let object_path = format!("objects/xx/{}.npy", blake3::hash(object).to_hex());
        let mut builder = PackBuilder::default();
        builder.add(&object_path, object);
        builder.add("items/extract/ab/k.json", b"{\"a\":1}");
        let (bytes, index) = builder.finish();
        assert_eq!(index.pack, blake3::hash(&bytes).to_hex().to_string());
        for m in &index.members {
            let slice = &bytes[m.offset as usize..(m.offset + m.len) as usize];
            verify(m, slice).unwrap();
        }
        let record = &index.members[1];
        assert!(
            verify(record, b"{\"a\":2}")
                .unwrap_err()
                .contains("corrupt")
        );
        assert!(verify(record, b"{").unwrap_err().contains("truncated"));
        // An index that lies about an object's hash is caught by the name.
        let mut lying = index.members[0].clone();
        lying.blake3 = blake3::hash(b"signal BYTES").to_hex().to_string();
        assert!(
            verify(&lying, b"signal BYTES")
                .unwrap_err()
                .contains("object's name")
        );
    }
}
