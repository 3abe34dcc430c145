//! The fast path for parsing one GeoJSON Feature object, used by the GeoJSON and
//! GeoJSONSeq readers for every feature.
//!
//! # Why
//! The reference parser ([`super::geojson::parse_feature`]) goes through `geojson`'s
//! types: a `String` per property name and per value, a `serde_json::Value` per
//! property, positions in small vectors, `Vec<Vec<Position>>` rings, then a second copy
//! into `geo_types`. For a million parcels that is tens of millions of allocations,
//! most of the read time. This parser reads the same JSON with `serde_json` straight
//! into `geo_types` coordinates (through scratch buffers it keeps between features) and
//! matches property names against the lists of the features before, so that a feature
//! costs a few exact-size allocations: its rings, its values, its text values.
//!
//! # Same answers
//! It accepts only a strict subset of what the reference parser accepts, and on that
//! subset gives the same feature: numbers go through the same `serde_json` calls, and
//! property values through the same conversions. Anything else (an error, an empty
//! coordinate array, a GeometryCollection, foreign members in a geometry, a repeated
//! member, a `type` that is not "Feature") makes it give up, and the reference parser
//! reads the text again, so errors and rare shapes come out exactly as before. A test
//! holds the two to agree on tricky inputs.
//!
//! May import: `model`, `ingest::read`.

use std::fmt;

use geo_types::{
    Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::geojson::{FeatureError, parse_feature};
use super::{Properties, PropertyNames, RawFeature};
use crate::model::Value;
use crate::model::quality::SourcePosition;

/// How many recent lists of property names are kept to be matched against. Files mostly
/// repeat one layout, sometimes a few (optional properties left out).
const NAME_LISTS: usize = 4;

/// Parses Feature objects one after another, reusing what it learnt from the previous
/// ones. See the module documentation.
pub(crate) struct FeatureParser {
    /// Recently seen lists of property names, most recent first.
    names: Vec<PropertyNames>,
    /// The empty list, shared by features without properties.
    no_names: PropertyNames,
    scratch: Scratch,
}

/// Coordinates of the geometry being parsed, flat.
#[derive(Default)]
struct Scratch {
    coords: Vec<Coord<f64>>,
    /// Where each line or ring ends in `coords`.
    line_ends: Vec<usize>,
    /// Where each polygon ends in `line_ends`.
    polygon_ends: Vec<usize>,
}

/// Why the fast path gave up; never shown, the reference parser then reads the text.
fn give_up<E: de::Error>() -> E {
    E::custom("not on the fast path")
}

impl FeatureParser {
    pub(crate) fn new() -> Self {
        Self {
            names: Vec::with_capacity(NAME_LISTS),
            no_names: PropertyNames::default(),
            scratch: Scratch::default(),
        }
    }

    /// Parses one Feature object (or a bare Geometry object, read as a feature without
    /// properties) from its JSON text, as the feature at `at`; the same as
    /// [`parse_feature`], faster.
    pub(crate) fn parse(
        &mut self,
        text: &[u8],
        at: SourcePosition,
    ) -> Result<RawFeature, FeatureError> {
        match self.fast(text) {
            Some((geometry, properties)) => Ok(RawFeature {
                at,
                geometry,
                properties,
            }),
            None => parse_feature(text, at),
        }
    }

    /// The geometry and properties of the Feature in `text`; `None` when the fast path
    /// gives up.
    fn fast(&mut self, text: &[u8]) -> Option<(Option<Geometry<f64>>, Properties)> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let feature = FeatureSeed(self).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(feature)
    }
}

/// The members of a Feature that are read.
fn feature_member(name: &str) -> Option<usize> {
    // Matching literals lets the compiler compare short strings inline, where a loop
    // over a list calls `memcmp` for each: it shows in profiles at a dozen keys a feature.
    match name {
        "type" => Some(0),
        "geometry" => Some(1),
        "properties" => Some(2),
        _ => None,
    }
}

/// The members of a geometry that are read; any other gives up.
fn geometry_member(name: &str) -> Option<usize> {
    match name {
        "type" => Some(0),
        "coordinates" => Some(1),
        "bbox" => Some(2),
        _ => None,
    }
}

/// An object key or a `type` string: what `match_str` makes of it. (Any other JSON
/// value is an error.)
struct StrSeed(fn(&str) -> Option<usize>);

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for StrSeed {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0(name))
    }
}

/// A Feature object: its geometry and properties.
struct FeatureSeed<'p>(&'p mut FeatureParser);

impl<'de> DeserializeSeed<'de> for FeatureSeed<'_> {
    type Value = (Option<Geometry<f64>>, Properties);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FeatureSeed<'_> {
    type Value = (Option<Geometry<f64>>, Properties);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Feature object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let parser = self.0;
        let mut is_feature = false;
        let mut geometry = None;
        let mut properties = None;
        while let Some(member) = map.next_key_seed(StrSeed(feature_member))? {
            match member {
                Some(0) if !is_feature => {
                    is_feature = map
                        .next_value_seed(StrSeed(|t| (t == "Feature").then_some(0)))?
                        .is_some();
                    if !is_feature {
                        return Err(give_up());
                    }
                }
                Some(1) if geometry.is_none() => {
                    geometry =
                        Some(map.next_value_seed(OptionSeed(GeometrySeed(&mut parser.scratch)))?);
                }
                Some(2) if properties.is_none() => {
                    properties =
                        Some(map.next_value_seed(OptionSeed(PropertiesSeed(&mut *parser)))?);
                }
                Some(_) => return Err(give_up()),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !is_feature {
            return Err(give_up());
        }
        let properties = properties
            .flatten()
            .unwrap_or_else(|| Properties::new(parser.no_names.clone(), Vec::new()));
        Ok((geometry.flatten(), properties))
    }
}

/// `null` or what `S` reads.
struct OptionSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// The geometry types read here (not GeometryCollection), in the order of
/// [`GEOMETRY_HEIGHTS`].
fn geometry_type(name: &str) -> Option<usize> {
    match name {
        "Point" => Some(0),
        "MultiPoint" => Some(1),
        "LineString" => Some(2),
        "MultiLineString" => Some(3),
        "Polygon" => Some(4),
        "MultiPolygon" => Some(5),
        _ => None,
    }
}

/// How deeply each geometry type nests its coordinate arrays: a position is 1.
const GEOMETRY_HEIGHTS: [usize; 6] = [1, 2, 2, 3, 3, 4];

/// A geometry object other than a GeometryCollection, without foreign members.
struct GeometrySeed<'p>(&'p mut Scratch);

impl<'de> DeserializeSeed<'de> for GeometrySeed<'_> {
    type Value = Geometry<f64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GeometrySeed<'_> {
    type Value = Geometry<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Geometry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let scratch = self.0;
        scratch.coords.clear();
        scratch.line_ends.clear();
        scratch.polygon_ends.clear();
        let mut kind = None;
        let mut height = None;
        let mut bbox = false;
        while let Some(member) = map.next_key_seed(StrSeed(geometry_member))? {
            match member {
                Some(0) if kind.is_none() => {
                    kind = Some(
                        map.next_value_seed(StrSeed(geometry_type))?
                            .ok_or_else(give_up::<A::Error>)?,
                    );
                }
                Some(1) if height.is_none() => {
                    height = Some(map.next_value_seed(AnyArraySeed {
                        scratch: &mut *scratch,
                        depth: 1,
                    })?);
                }
                // Read as the reference parser reads it, and dropped as it is there.
                Some(2) if !bbox => {
                    bbox = true;
                    map.next_value::<Option<Vec<f64>>>()?;
                }
                _ => return Err(give_up()),
            }
        }
        match (kind, height) {
            (Some(kind), Some(height)) if GEOMETRY_HEIGHTS[kind] == height => {
                Ok(scratch.geometry(kind))
            }
            _ => Err(give_up()),
        }
    }
}

impl Scratch {
    /// The geometry of type `kind` (see [`geometry_type`]) from the coordinates read,
    /// whose nesting has been checked to match it.
    fn geometry(&self, kind: usize) -> Geometry<f64> {
        let lines = 0..self.line_ends.len();
        match kind {
            0 => Geometry::Point(Point(self.coords[0])),
            1 => Geometry::MultiPoint(MultiPoint(self.coords.iter().map(|&c| Point(c)).collect())),
            2 => Geometry::LineString(LineString(self.coords.clone())),
            3 => Geometry::MultiLineString(MultiLineString(
                lines.map(|i| self.line(i, false)).collect(),
            )),
            4 => Geometry::Polygon(self.polygon(lines)),
            _ => Geometry::MultiPolygon(MultiPolygon(
                (0..self.polygon_ends.len())
                    .map(|i| {
                        let start = if i == 0 { 0 } else { self.polygon_ends[i - 1] };
                        self.polygon(start..self.polygon_ends[i])
                    })
                    .collect(),
            )),
        }
    }

    /// Line or ring `i`. A ring gets room for the closing position `Polygon::new` adds
    /// when it is missing, so that closing it does not reallocate.
    fn line(&self, i: usize, ring: bool) -> LineString<f64> {
        let start = if i == 0 { 0 } else { self.line_ends[i - 1] };
        let coords = &self.coords[start..self.line_ends[i]];
        let unclosed = ring && coords.first() != coords.last();
        let mut line = Vec::with_capacity(coords.len() + usize::from(unclosed));
        line.extend_from_slice(coords);
        LineString(line)
    }

    /// The polygon of rings `rings` (at least one).
    fn polygon(&self, mut rings: std::ops::Range<usize>) -> Polygon<f64> {
        let exterior = rings
            .next()
            .map_or_else(|| LineString(Vec::new()), |i| self.line(i, true));
        Polygon::new(exterior, rings.map(|i| self.line(i, true)).collect())
    }

    /// Records the end of an array of positions (height 2) or of rings (height 3).
    fn end_array(&mut self, height: usize) {
        match height {
            2 => self.line_ends.push(self.coords.len()),
            3 => self.polygon_ends.push(self.line_ends.len()),
            _ => {}
        }
    }
}

/// A coordinate array whose nesting is told by its first element, as the reference
/// parser tells it; the value is its height (1 for a position). Empty arrays give up.
struct AnyArraySeed<'p> {
    scratch: &'p mut Scratch,
    /// How deep this array is in the coordinates (1 for the outermost).
    depth: usize,
}

/// The first element of a coordinate array: a number, or an array of some height.
enum First {
    Number(f64),
    Array(usize),
}

impl<'de> DeserializeSeed<'de> for AnyArraySeed<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyArraySeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a coordinate array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let scratch = self.scratch;
        let first = seq.next_element_seed(FirstSeed {
            scratch: &mut *scratch,
            depth: self.depth + 1,
        })?;
        match first {
            None => Err(give_up()),
            Some(First::Number(x)) => {
                read_position(x, &mut seq, scratch)?;
                Ok(1)
            }
            Some(First::Array(child)) => {
                let height = child + 1;
                while seq
                    .next_element_seed(ArraySeed {
                        scratch: &mut *scratch,
                        height: child,
                    })?
                    .is_some()
                {}
                scratch.end_array(height);
                Ok(height)
            }
        }
    }
}

/// The first element of a coordinate array at `depth`.
struct FirstSeed<'p> {
    scratch: &'p mut Scratch,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for FirstSeed<'_> {
    type Value = First;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstSeed<'_> {
    type Value = First;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or an array")
    }

    // Integers become floats as `geojson` converts them.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<First, E> {
        Ok(First::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<First, E> {
        Ok(First::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<First, E> {
        Ok(First::Number(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<First, A::Error> {
        // Four levels make a MultiPolygon; deeper is no geometry read here.
        if self.depth > 4 {
            return Err(give_up());
        }
        AnyArraySeed {
            scratch: self.scratch,
            depth: self.depth,
        }
        .visit_seq(seq)
        .map(First::Array)
    }
}

/// A coordinate array of known height whose elements all have height `height - 1`.
struct ArraySeed<'p> {
    scratch: &'p mut Scratch,
    height: usize,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a coordinate array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let scratch = self.scratch;
        if self.height == 1 {
            let x = seq.next_element::<f64>()?.ok_or_else(give_up::<A::Error>)?;
            return read_position(x, &mut seq, scratch);
        }
        let mut empty = true;
        while seq
            .next_element_seed(ArraySeed {
                scratch: &mut *scratch,
                height: self.height - 1,
            })?
            .is_some()
        {
            empty = false;
        }
        if empty {
            return Err(give_up());
        }
        scratch.end_array(self.height);
        Ok(())
    }
}

/// Reads the rest of a position whose first number was `x`: at least a second number,
/// and any more, which are dropped (Z and M).
fn read_position<'de, A: SeqAccess<'de>>(
    x: f64,
    seq: &mut A,
    scratch: &mut Scratch,
) -> Result<(), A::Error> {
    let y = seq.next_element::<f64>()?.ok_or_else(give_up::<A::Error>)?;
    while seq.next_element::<f64>()?.is_some() {}
    scratch.coords.push(Coord { x, y });
    Ok(())
}

/// A `properties` object.
struct PropertiesSeed<'p>(&'p mut FeatureParser);

impl<'de> DeserializeSeed<'de> for PropertiesSeed<'_> {
    type Value = Properties;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PropertiesSeed<'_> {
    type Value = Properties;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a properties object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Properties, A::Error> {
        let parser = self.0;
        let lists = &parser.names;
        // The recent list the names so far match, if any; else the names so far.
        let mut list = (!lists.is_empty()).then_some(0);
        let mut values: Vec<Value> = Vec::with_capacity(lists.first().map_or(0, |l| l.len()));
        let mut new_names: Vec<String> = Vec::new();
        loop {
            let key = NameSeed {
                lists,
                list,
                at: values.len(),
            };
            let Some(matched) = map.next_key_seed(key)? else {
                break;
            };
            let value = map.next_value_seed(ValueSeed)?;
            match matched {
                Ok(found) => list = Some(found),
                Err(name) => {
                    if let Some(l) = list.take() {
                        new_names.extend(
                            lists[l].as_slice()[..values.len()]
                                .iter()
                                .map(|n| n.as_str().to_owned()),
                        );
                    }
                    new_names.push(name);
                }
            }
            values.push(value);
        }
        if values.is_empty() {
            return Ok(Properties::new(parser.no_names.clone(), values));
        }
        let count = values.len();
        let found = list.and_then(|l| {
            let prefix = &lists[l].as_slice()[..count];
            lists
                .iter()
                .position(|other| other.len() == count && other.as_slice() == prefix)
        });
        let properties = match found {
            Some(i) => Properties::new(lists[i].clone(), values),
            None => {
                let names: Vec<String> = match list {
                    Some(l) => lists[l].as_slice()[..count]
                        .iter()
                        .map(|n| n.as_str().to_owned())
                        .collect(),
                    None => new_names,
                };
                Properties::from_pairs(names.into_iter().zip(values).collect())
            }
        };
        // Most recent first, so that the next feature tries this layout first.
        let names = &mut parser.names;
        match names.iter().position(|l| l.same_list(properties.names())) {
            Some(i) => names[..=i].rotate_right(1),
            None => {
                names.truncate(NAME_LISTS - 1);
                names.insert(0, properties.names().clone());
            }
        }
        Ok(properties)
    }
}

/// A property name, matched against position `at` of the recent name lists: `Ok` with
/// the index of a list whose names so far and name at `at` match, preferring `list`;
/// `Err` with the name when none does.
struct NameSeed<'a> {
    lists: &'a [PropertyNames],
    list: Option<usize>,
    at: usize,
}

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = Result<usize, String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for NameSeed<'_> {
    type Value = Result<usize, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        let Some(current) = self.list else {
            return Ok(Err(name.to_owned()));
        };
        let at = self.at;
        let fits = |list: &PropertyNames| list.as_slice().get(at).is_some_and(|n| *n == name);
        if fits(&self.lists[current]) {
            return Ok(Ok(current));
        }
        let before = &self.lists[current].as_slice()[..at];
        Ok(self
            .lists
            .iter()
            .position(|list| list.as_slice().get(..at) == Some(before) && fits(list))
            .ok_or_else(|| name.to_owned()))
    }
}

/// A property value, converted as [`Value::from_json`] converts the `serde_json::Value`
/// the reference parser reads, without building that value for scalars.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json turns a non-finite float into null.
        Ok(if v.is_finite() {
            Value::Float(v)
        } else {
            Value::Null
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        let json = serde::Deserialize::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(Value::from_json(&json))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let json = serde::Deserialize::deserialize(MapAccessDeserializer::new(map))?;
        Ok(Value::from_json(&json))
    }
}

#[cfg(test)]
mod tests;
