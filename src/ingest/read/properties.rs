//! A feature's properties as readers hand them over: values in source order, with the
//! list of names shared between features.
//!
//! Every feature of a file usually has the same property names in the same order. A
//! reader builds the list of names once ([`PropertyNames`]) and gives each feature a
//! cheap handle to it, instead of a `String` per name per feature: for a million
//! parcels with eight properties, that is eight million allocations and frees saved.
//! The pipeline can also tell in one pointer comparison that a feature has the same
//! columns as the one before ([`PropertyNames::same_list`]).
//!
//! May import: `model`.

use std::fmt;
use std::sync::Arc;

use crate::model::Value;

/// A property name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Box<str>);

impl Name {
    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Self(name.into())
    }
}

impl From<String> for Name {
    fn from(name: String) -> Self {
        Self(name.into_boxed_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

// `Properties::iter` yields `(&Name, &Value)`, so a closure over an item's name holds a
// `&&Name`; this lets it be compared with a `&str` as it could with a `&String`.
impl PartialEq<str> for &Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

/// The names of a feature's properties, unique, in source order; cloning shares them.
#[derive(Clone, PartialEq, Eq)]
pub struct PropertyNames(Arc<[Name]>);

impl PropertyNames {
    /// The list of `names`, which must be unique.
    pub(crate) fn new(names: impl IntoIterator<Item = Name>) -> Self {
        let names: Arc<[Name]> = names.into_iter().collect();
        debug_assert!(
            names
                .iter()
                .enumerate()
                .all(|(i, n)| !names[..i].contains(n)),
            "property names must be unique"
        );
        Self(names)
    }

    /// The names.
    #[must_use]
    pub fn as_slice(&self) -> &[Name] {
        &self.0
    }

    /// The number of names.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when both are handles to the same list (not merely equal lists): cheap, and
    /// what a reader's repeated feature layout looks like.
    #[must_use]
    pub fn same_list(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for PropertyNames {
    fn default() -> Self {
        Self::new([])
    }
}

impl fmt::Debug for PropertyNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// The properties of one feature: unique names in source order and a value for each.
#[derive(Clone, Default, PartialEq)]
pub struct Properties {
    names: PropertyNames,
    values: Vec<Value>,
}

impl Properties {
    /// Pairs `names` with `values`, one value per name.
    ///
    /// # Panics
    /// When the lengths differ: a reader bug.
    #[must_use]
    pub fn new(names: PropertyNames, values: Vec<Value>) -> Self {
        assert_eq!(names.len(), values.len(), "one value per property name");
        Self { names, values }
    }

    /// Properties from name and value pairs, keeping the first position and the last
    /// value of a repeated name (as JSON parsers do for repeated keys).
    #[must_use]
    pub fn from_pairs(mut pairs: Vec<(String, Value)>) -> Self {
        super::dedupe_properties(&mut pairs);
        let (names, values): (Vec<Name>, Vec<Value>) =
            pairs.into_iter().map(|(n, v)| (Name::from(n), v)).unzip();
        Self {
            names: PropertyNames::new(names),
            values,
        }
    }

    /// The names.
    #[must_use]
    pub fn names(&self) -> &PropertyNames {
        &self.names
    }

    /// The values, in the order of the names.
    #[must_use]
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The names and the values.
    #[must_use]
    pub fn into_parts(self) -> (PropertyNames, Vec<Value>) {
        (self.names, self.values)
    }

    /// The number of properties.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Names and values in source order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Name, &Value)> {
        self.names.as_slice().iter().zip(&self.values)
    }

    /// The value of property `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// A file's fixed columns (a header's) as property names, for readers that get one value
/// per column: repeated column names are merged as [`Properties::from_pairs`] merges
/// them, keeping the first position and the last value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    names: PropertyNames,
    /// For each column, the index of its name; `None` when the names are unique.
    slots: Option<Vec<usize>>,
}

impl Columns {
    pub(crate) fn new<'a>(columns: impl IntoIterator<Item = &'a str>) -> Self {
        let mut names: Vec<Name> = Vec::new();
        let mut slots = Vec::new();
        for column in columns {
            match names.iter().position(|n| n == column) {
                Some(slot) => slots.push(slot),
                None => {
                    slots.push(names.len());
                    names.push(column.into());
                }
            }
        }
        let unique = slots.len() == names.len();
        Self {
            names: PropertyNames::new(names),
            slots: (!unique).then_some(slots),
        }
    }

    /// The properties of a feature with `values`, one per column.
    ///
    /// # Panics
    /// When there is not one value per column: a reader bug.
    pub(crate) fn properties(&self, values: Vec<Value>) -> Properties {
        match &self.slots {
            None => Properties::new(self.names.clone(), values),
            Some(slots) => {
                assert_eq!(slots.len(), values.len(), "one value per column");
                let mut merged = vec![Value::Null; self.names.len()];
                for (&slot, value) in slots.iter().zip(values) {
                    merged[slot] = value;
                }
                Properties::new(self.names.clone(), merged)
            }
        }
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq<Vec<(String, Value)>> for Properties {
    fn eq(&self, other: &Vec<(String, Value)>) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other)
                .all(|((n, v), (on, ov))| n.as_str() == on && v == ov)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_deduplicated_and_compare_with_plain_pairs() {
        let properties = Properties::from_pairs(vec![
            ("a".to_owned(), Value::Int(1)),
            ("b".to_owned(), Value::Null),
            ("a".to_owned(), Value::Int(3)),
        ]);
        assert_eq!(
            properties,
            vec![
                ("a".to_owned(), Value::Int(3)),
                ("b".to_owned(), Value::Null)
            ]
        );
        assert_eq!(properties.get("b"), Some(&Value::Null));
        assert_eq!(properties.get("c"), None);
        assert_eq!(format!("{properties:?}"), r#"{"a": Int(3), "b": Null}"#);
    }

    #[test]
    fn clones_share_the_names() {
        let names = PropertyNames::new(["x".into(), "y".into()]);
        let a = Properties::new(names.clone(), vec![Value::Int(1), Value::Int(2)]);
        let b = Properties::new(names.clone(), vec![Value::Int(1), Value::Int(2)]);
        assert!(a.names().same_list(b.names()));
        let equal = PropertyNames::new(["x".into(), "y".into()]);
        assert_eq!(names, equal);
        assert!(!names.same_list(&equal));
        assert_eq!(a, b);
    }

    #[test]
    fn repeated_columns_merge_like_repeated_pairs() {
        let columns = Columns::new(["a", "b", "a"]);
        let values = vec![Value::Int(1), Value::Int(2), Value::Null];
        let pairs = ["a", "b", "a"]
            .iter()
            .map(|n| (*n).to_owned())
            .zip(values.clone())
            .collect();
        assert_eq!(columns.properties(values), Properties::from_pairs(pairs));
        let unique = Columns::new(["x"]);
        assert_eq!(
            unique.properties(vec![Value::Bool(true)]),
            vec![("x".to_owned(), Value::Bool(true))]
        );
    }
}
