//! Dictionary-encoded property values.
//!
//! Each distinct value of a layer is stored once; a feature's row holds one `u32`
//! per field. This keeps 1M parcels with repeated land-use codes small, makes
//! equality filters integer comparisons, and lets the tile encoder map values to
//! tile-local indices without hashing strings.

use std::collections::HashMap;

use crate::model::{Feature, Value};

/// The id standing for a missing value.
pub const NULL_VALUE: u32 = u32::MAX;

/// Properties of every feature of a layer, dictionary-encoded.
#[derive(Debug, Default)]
pub struct PropertyTable {
    fields: usize,
    dictionary: Vec<Value>,
    index: DictionaryIndex,
    rows: Vec<u32>,
}

/// Finds the dictionary id of a value; one map per kind so lookups never allocate.
#[derive(Debug, Default)]
struct DictionaryIndex {
    bools: [Option<u32>; 2],
    ints: HashMap<i64, u32>,
    floats: HashMap<u64, u32>,
    strings: HashMap<Box<str>, u32>,
}

impl DictionaryIndex {
    fn get(&self, v: &Value) -> Option<u32> {
        match v {
            Value::Null => None,
            Value::Bool(b) => self.bools[usize::from(*b)],
            Value::Int(i) => self.ints.get(i).copied(),
            Value::Float(f) => self.floats.get(&f.to_bits()).copied(),
            Value::String(s) => self.strings.get(s.as_str()).copied(),
        }
    }

    fn insert(&mut self, v: &Value, id: u32) {
        match v {
            Value::Null => {}
            Value::Bool(b) => self.bools[usize::from(*b)] = Some(id),
            Value::Int(i) => {
                self.ints.insert(*i, id);
            }
            Value::Float(f) => {
                self.floats.insert(f.to_bits(), id);
            }
            Value::String(s) => {
                self.strings.insert(s.as_str().into(), id);
            }
        }
    }
}

impl PropertyTable {
    /// Encodes the properties of `features` (each with `fields` values).
    #[must_use]
    pub fn build(fields: usize, features: &[Feature]) -> Self {
        let mut table = Self {
            fields,
            rows: Vec::with_capacity(fields * features.len()),
            ..Self::default()
        };
        for f in features {
            for slot in 0..fields {
                let id = f
                    .properties
                    .get(slot)
                    .map_or(NULL_VALUE, |v| table.intern(v));
                table.rows.push(id);
            }
        }
        table.dictionary.shrink_to_fit();
        table
    }

    fn intern(&mut self, v: &Value) -> u32 {
        if v.is_null() {
            return NULL_VALUE;
        }
        if let Some(id) = self.index.get(v) {
            return id;
        }
        // Dictionary ids stay below NULL_VALUE: a layer has far fewer than 2^32 values.
        let id = u32::try_from(self.dictionary.len()).unwrap_or(NULL_VALUE - 1);
        self.dictionary.push(v.clone());
        self.index.insert(v, id);
        id
    }

    /// The dictionary id of `value`, if any feature has it.
    #[must_use]
    pub fn lookup(&self, value: &Value) -> Option<u32> {
        self.index.get(value)
    }

    /// The value id of field `field` of feature `row` ([`NULL_VALUE`] when missing).
    #[must_use]
    pub fn value_id(&self, row: usize, field: usize) -> u32 {
        self.rows[row * self.fields + field]
    }

    /// The value ids of feature `row`, one per field.
    #[must_use]
    pub fn row(&self, row: usize) -> &[u32] {
        &self.rows[row * self.fields..(row + 1) * self.fields]
    }

    /// The value with dictionary id `id`; `Null` for [`NULL_VALUE`].
    #[must_use]
    pub fn value(&self, id: u32) -> &Value {
        const NULL: Value = Value::Null;
        self.dictionary.get(id as usize).unwrap_or(&NULL)
    }

    /// Number of distinct values.
    #[must_use]
    pub fn dictionary_len(&self) -> usize {
        self.dictionary.len()
    }

    /// Decoded values of feature `row`.
    #[must_use]
    pub fn row_values(&self, row: usize) -> Vec<Value> {
        self.row(row)
            .iter()
            .map(|&id| self.value(id).clone())
            .collect()
    }
}
