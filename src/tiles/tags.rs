//! Tile-local key and value tables of one MVT layer.
//!
//! Schema fields map to keys on first use and dictionary values to tile-local indices,
//! so each distinct value is written once per tile. Cluster points add keys of their
//! own (`cluster`, `point_count`, `{field}_sum`) with values that are not in the
//! layer's dictionary. The table counts the bytes its keys and values will take, and
//! can roll back the last feature's additions when that feature does not fit the
//! tile's budget.

use foldhash::{HashMap, HashMapExt as _};

use super::pbf::{field_len, value_field_len};
use crate::index::IndexedLayer;
use crate::model::Value;

/// A key of the tile: a schema field or a property made by the renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Schema field, by position.
    Field(usize),
    /// `cluster`.
    Cluster,
    /// `point_count`.
    PointCount,
    /// `{field}_sum`.
    Sum,
}

/// A value of the tile.
#[derive(Debug, Clone, PartialEq)]
enum TileValue {
    Dictionary(u32),
    Own(Value),
}

/// Hashable form of a renderer-made value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OwnKey {
    Bool(bool),
    Int(i64),
    Float(u64),
}

fn own_key(v: &Value) -> Option<OwnKey> {
    match v {
        Value::Bool(b) => Some(OwnKey::Bool(*b)),
        Value::Int(i) => Some(OwnKey::Int(*i)),
        Value::Float(f) => Some(OwnKey::Float(f.to_bits())),
        Value::String(_) | Value::Null => None,
    }
}

/// Lengths of the tables, to roll a feature back.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    keys: usize,
    values: usize,
    bytes: usize,
}

/// Tile-local key and value tables.
pub struct TagTable {
    /// Per schema field, its key index once used.
    key_of_field: Vec<Option<u32>>,
    /// Key index of `cluster`, `point_count`, `{field}_sum` once used.
    key_of_own: [Option<u32>; 3],
    keys: Vec<Key>,
    /// Dictionary value id to tile-local value index.
    value_index: HashMap<u32, u32>,
    own_index: HashMap<OwnKey, u32>,
    values: Vec<TileValue>,
    /// Bytes the key and value fields will take in the layer.
    bytes: usize,
}

impl TagTable {
    /// Tables for up to about `features` features of `layer`.
    pub fn new(layer: &IndexedLayer, features: usize) -> Self {
        Self {
            key_of_field: vec![None; layer.meta().schema.fields.len()],
            key_of_own: [None; 3],
            keys: Vec::new(),
            value_index: HashMap::with_capacity(features * 2),
            own_index: HashMap::new(),
            values: Vec::new(),
            bytes: 0,
        }
    }

    /// Bytes of the key and value fields so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The current lengths, for [`Self::rollback`].
    pub fn mark(&self) -> Mark {
        Mark {
            keys: self.keys.len(),
            values: self.values.len(),
            bytes: self.bytes,
        }
    }

    /// Forgets the keys and values added since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        for key in self.keys.drain(mark.keys..) {
            match key {
                Key::Field(f) => self.key_of_field[f] = None,
                Key::Cluster => self.key_of_own[0] = None,
                Key::PointCount => self.key_of_own[1] = None,
                Key::Sum => self.key_of_own[2] = None,
            }
        }
        for value in self.values.drain(mark.values..) {
            match value {
                TileValue::Dictionary(id) => {
                    self.value_index.remove(&id);
                }
                TileValue::Own(v) => {
                    if let Some(k) = own_key(&v) {
                        self.own_index.remove(&k);
                    }
                }
            }
        }
        self.bytes = mark.bytes;
    }

    fn key(&mut self, key: Key, name_len: usize) -> u32 {
        let slot = match key {
            Key::Field(f) => &mut self.key_of_field[f],
            Key::Cluster => &mut self.key_of_own[0],
            Key::PointCount => &mut self.key_of_own[1],
            Key::Sum => &mut self.key_of_own[2],
        };
        if let Some(k) = *slot {
            return k;
        }
        let k = index_u32(self.keys.len());
        *slot = Some(k);
        self.keys.push(key);
        self.bytes += field_len(name_len);
        k
    }

    /// Writes the tag pairs of feature `row` into `tags`.
    pub fn feature_tags(&mut self, layer: &IndexedLayer, row: usize, tags: &mut Vec<u32>) {
        let props = layer.properties();
        let fields = &layer.meta().schema.fields;
        tags.clear();
        for (field, value_id) in layer.tile_properties(row) {
            let key = self.key(Key::Field(field), fields[field].name.len());
            let next = index_u32(self.values.len());
            let value = *self.value_index.entry(value_id).or_insert(next);
            if value == next {
                self.values.push(TileValue::Dictionary(value_id));
                self.bytes += value_field_len(props.value(value_id));
            }
            tags.push(key);
            tags.push(value);
        }
    }

    /// Writes the tag pairs of a cluster point into `tags`.
    pub fn cluster_tags(&mut self, count: u32, sum: Option<(&str, &Value)>, tags: &mut Vec<u32>) {
        tags.clear();
        let mut own = [
            (Key::Cluster, "cluster".len(), Value::Bool(true)),
            (
                Key::PointCount,
                "point_count".len(),
                Value::Int(i64::from(count)),
            ),
            (Key::Sum, 0, Value::Null),
        ];
        let n = match sum {
            Some((name, v)) => {
                own[2] = (Key::Sum, name.len(), v.clone());
                3
            }
            None => 2,
        };
        for (key, name_len, value) in own.into_iter().take(n) {
            let Some(hashed) = own_key(&value) else {
                continue;
            };
            let k = self.key(key, name_len);
            let next = index_u32(self.values.len());
            let v = *self.own_index.entry(hashed).or_insert(next);
            if v == next {
                self.bytes += value_field_len(&value);
                self.values.push(TileValue::Own(value));
            }
            tags.push(k);
            tags.push(v);
        }
    }

    /// Key names in key-index order.
    pub fn key_names<'a>(
        &'a self,
        layer: &'a IndexedLayer,
        sum_name: Option<&'a str>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let fields = &layer.meta().schema.fields;
        self.keys.iter().map(move |k| match k {
            Key::Field(f) => fields[*f].name.as_str(),
            Key::Cluster => "cluster",
            Key::PointCount => "point_count",
            Key::Sum => sum_name.unwrap_or("sum"),
        })
    }

    /// Values in value-index order.
    pub fn values<'a>(&'a self, layer: &'a IndexedLayer) -> impl Iterator<Item = &'a Value> + 'a {
        self.values.iter().map(move |v| match v {
            TileValue::Dictionary(id) => layer.properties().value(*id),
            TileValue::Own(v) => v,
        })
    }
}

fn index_u32(i: usize) -> u32 {
    // Tile-local tables are bounded by the features of one tile.
    u32::try_from(i).unwrap_or(u32::MAX)
}
