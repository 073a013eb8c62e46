//! What a node's record needs: the closure that `gc` keeps, `push` sends
//! and `pull` fetches.
//!
//! A node record names its output objects and `refs`, and the per-item
//! records it used; each item record names objects of its own (a decoded
//! signal, an utterance's functionals). The closure of a set of nodes is
//! their record paths, those item paths and all those objects, as cache
//! paths (`records/...`, `items/...`, `objects/...`).
//!
//! It is computed in two rounds of batch reads (records, then items), so
//! the same walk serves the local disk and a remote, where a read is a
//! round trip.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::stage::NodeRecord;

/// Cache path of a node record.
pub fn record_path(stage: &str, key: &str) -> String {
    format!("records/{stage}/{}/{key}.json", &key[..2])
}

/// Cache path of a per-item record named `<stage>/<key>` (as node records
/// list them).
pub fn item_path(item: &str) -> String {
    let (stage, key) = item.split_once('/').unwrap_or(("", item));
    format!("items/{stage}/{}/{key}.json", &key[..2.min(key.len())])
}

/// Cache path of an object.
pub fn object_path(object: &str) -> String {
    format!("objects/{}/{object}", &object[..2.min(object.len())])
}

/// Batch reader: the bytes of those of `paths` it has.
pub type ReadMany<'a> = dyn FnMut(&[String]) -> HashMap<String, Vec<u8>> + 'a;

/// The closure of `nodes` (stage, key). Records or items the reader does
/// not have are left out (their nodes are incomplete wherever they are).
pub fn closure(nodes: &[(String, String)], read: &mut ReadMany<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let records: Vec<String> = nodes
        .iter()
        .map(|(stage, key)| record_path(stage, key))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut items = BTreeSet::new();
    for (path, bytes) in read(&records) {
        let Ok(record) = serde_json::from_slice::<NodeRecord>(&bytes) else {
            continue;
        };
        out.insert(path);
        for object in record.outputs.files.values().chain(&record.outputs.refs) {
            out.insert(object_path(object));
        }
        items.extend(record.outputs.items.iter().map(|i| item_path(i)));
    }
    let items: Vec<String> = items.into_iter().collect();
    for (path, bytes) in read(&items) {
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        out.insert(path);
        let mut objects = BTreeSet::new();
        object_names(&value, &mut objects);
        out.extend(objects.iter().map(|o| object_path(o)));
    }
    out
}

/// A reader of the local cache folder.
pub fn local_reader(
    root: &std::path::Path,
) -> impl FnMut(&[String]) -> HashMap<String, Vec<u8>> + '_ {
    move |paths: &[String]| {
        paths
            .iter()
            .filter_map(|p| std::fs::read(root.join(p)).ok().map(|b| (p.clone(), b)))
            .collect()
    }
}

/// Every string in a record that is an object name (`<blake3 hex>.<ext>`).
pub fn object_names(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            let is_object = s.split_once('.').is_some_and(|(hash, ext)| {
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !ext.is_empty()
            });
            if is_object {
                out.insert(s.clone());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| object_names(v, out)),
        Value::Object(map) => map.values().for_each(|v| object_names(v, out)),
        _ => {}
    }
}
