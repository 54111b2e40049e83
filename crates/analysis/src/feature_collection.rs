//! Reading a GeoJSON FeatureCollection into ward features, counting features, vertices and the
//! vertices of each ring while the text is parsed, so that a file over its budget is refused
//! before the memory for the rest of it is taken. Coordinates become plain points, without a
//! JSON tree of the file in between.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::boundaries::{property, BoundaryError, Feature, Polygon};
use crate::budget::{BoundaryBudget, BudgetExceeded};
use crate::table::{WARD_CODE_COLUMN_NAMES, WARD_COLUMN_NAMES};

/// Reads the features of a FeatureCollection within `budget`.
pub(crate) fn read(bytes: &[u8], budget: &BoundaryBudget) -> Result<Vec<Feature>, BoundaryError> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| BoundaryError::NotGeoJson("the file is not UTF-8 text".into()))?;
    let counter = Counter { budget, features: Cell::new(0), vertices: Cell::new(0), exceeded: Cell::new(None) };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Counted(&counter).deserialize(&mut deserializer).and_then(|collection| {
        deserializer.end()?;
        Ok(collection)
    });
    if let Some(exceeded) = counter.exceeded.get() {
        return Err(BoundaryError::TooLarge(exceeded));
    }
    let (kind, features) = parsed.map_err(|e| BoundaryError::NotGeoJson(e.to_string()))?;
    if kind.as_deref() != Some("FeatureCollection") {
        return Err(BoundaryError::NotFeatureCollection);
    }
    features
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let props: Vec<(&str, Option<String>)> =
                f.properties.iter().flatten().map(|(k, v)| (k.as_str(), json_text(v))).collect();
            let polygons = match f.geometry {
                None => Vec::new(),
                Some((kind, coordinates)) => match (kind.as_str(), coordinates) {
                    ("Polygon", Some(c)) => vec![c.into_polygon()],
                    ("MultiPolygon", Some(c)) => c.into_list().into_iter().map(Nested::into_polygon).collect(),
                    ("Polygon" | "MultiPolygon", None) => Vec::new(),
                    _ => return Err(BoundaryError::NotPolygon { feature: i + 1, kind }),
                },
            };
            Ok(Feature { name: property(&props, &WARD_COLUMN_NAMES), code: property(&props, &WARD_CODE_COLUMN_NAMES), polygons })
        })
        .collect()
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What has been read so far, and the budget it was refused by, if any: the parser's own error
/// cannot carry it.
struct Counter<'b> {
    budget: &'b BoundaryBudget,
    features: Cell<u64>,
    vertices: Cell<u64>,
    exceeded: Cell<Option<BudgetExceeded>>,
}

impl Counter<'_> {
    fn within<E: de::Error>(&self, limit: &'static str, value: u64, max: u64) -> Result<(), E> {
        BudgetExceeded::check(limit, value, max).map_err(|exceeded| {
            self.exceeded.set(Some(exceeded));
            E::custom(exceeded)
        })
    }

    fn count<E: de::Error>(&self, count: &Cell<u64>, limit: &'static str, max: u64) -> Result<(), E> {
        count.set(count.get() + 1);
        self.within(limit, count.get(), max)
    }
}

/// A feature as read: its properties and its geometry's type and coordinates.
struct JsonFeature {
    properties: Option<serde_json::Map<String, serde_json::Value>>,
    geometry: Option<(String, Option<Nested>)>,
}

/// GeoJSON coordinates of any depth: a position (its x and y; further numbers are dropped) or
/// a list of deeper coordinates.
enum Nested {
    Position([f64; 2]),
    List(Vec<Nested>),
}

impl Nested {
    fn into_list(self) -> Vec<Nested> {
        match self {
            Nested::List(list) => list,
            Nested::Position(_) => Vec::new(),
        }
    }

    /// Rings of positions; anything that is not a position is left out.
    fn into_polygon(self) -> Polygon {
        let point = |p: Nested| match p {
            Nested::Position(point) => Some(point),
            Nested::List(_) => None,
        };
        self.into_list().into_iter().map(|ring| ring.into_list().into_iter().filter_map(point).collect()).collect()
    }
}

/// One element of a coordinate list: a number of a position, or a deeper list.
enum Element {
    Number(f64),
    Nested(Nested),
}

/// Every part of the file is read through a seed that holds the counter.
#[derive(Clone, Copy)]
struct Counted<'c, 'b>(&'c Counter<'b>);

/// The collection: its `type` and its features.
impl<'de> DeserializeSeed<'de> for Counted<'_, '_> {
    type Value = (Option<String>, Vec<JsonFeature>);

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Counted<'_, '_> {
    type Value = (Option<String>, Vec<JsonFeature>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut features) = (None, Vec::new());
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = Some(map.next_value()?),
                "features" => features = map.next_value_seed(Features(self.0))?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok((kind, features))
    }
}

struct Features<'c, 'b>(&'c Counter<'b>);

impl<'de> DeserializeSeed<'de> for Features<'_, '_> {
    type Value = Vec<JsonFeature>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Features<'_, '_> {
    type Value = Vec<JsonFeature>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut features = Vec::new();
        while let Some(feature) = seq.next_element_seed(FeatureSeed(self.0))? {
            self.0.count(&self.0.features, "features", self.0.budget.features)?;
            features.push(feature);
        }
        Ok(features)
    }
}

struct FeatureSeed<'c, 'b>(&'c Counter<'b>);

impl<'de> DeserializeSeed<'de> for FeatureSeed<'_, '_> {
    type Value = JsonFeature;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FeatureSeed<'_, '_> {
    type Value = JsonFeature;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a feature")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut feature = JsonFeature { properties: None, geometry: None };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "properties" => feature.properties = map.next_value()?,
                "geometry" => feature.geometry = map.next_value_seed(GeometrySeed(self.0))?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(feature)
    }
}

/// A geometry or `null`.
struct GeometrySeed<'c, 'b>(&'c Counter<'b>);

impl<'de> DeserializeSeed<'de> for GeometrySeed<'_, '_> {
    type Value = Option<(String, Option<Nested>)>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for GeometrySeed<'_, '_> {
    type Value = Option<(String, Option<Nested>)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a geometry or null")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut coordinates) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = Some(map.next_value()?),
                "coordinates" => coordinates = Some(map.next_value_seed(Coordinates(self.0))?),
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        Ok(Some((kind, coordinates)))
    }
}

/// A list of coordinates: a position or a list of deeper ones.
struct Coordinates<'c, 'b>(&'c Counter<'b>);

impl<'de> DeserializeSeed<'de> for Coordinates<'_, '_> {
    type Value = Nested;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Coordinates<'_, '_> {
    type Value = Nested;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of coordinates")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nested, A::Error> {
        let budget = self.0.budget;
        // A position's numbers are counted, not collected: only x and y are kept.
        let (mut xy, mut numbers) = ([0.0; 2], 0usize);
        let mut lists = Vec::new();
        while let Some(element) = seq.next_element_seed(ElementSeed(self.0))? {
            match element {
                Element::Number(x) if lists.is_empty() => {
                    if let Some(slot) = xy.get_mut(numbers) {
                        *slot = x;
                    }
                    numbers += 1;
                }
                Element::Nested(n) if numbers == 0 => {
                    if let Nested::Position(_) = n {
                        self.0.count(&self.0.vertices, "vertices", budget.vertices)?;
                        self.0.within("ring_vertices", lists.len() as u64 + 1, budget.ring_vertices)?;
                    }
                    lists.push(n);
                }
                _ => return Err(de::Error::custom("a list mixes numbers and lists")),
            }
        }
        match numbers {
            0 => Ok(Nested::List(lists)),
            1 => Err(de::Error::custom("a position has a single number")),
            _ => Ok(Nested::Position(xy)),
        }
    }
}

struct ElementSeed<'c, 'b>(&'c Counter<'b>);

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, '_> {
    type Value = Element;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_, '_> {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a list of coordinates")
    }

    fn visit_f64<E>(self, v: f64) -> Result<Element, E> {
        Ok(Element::Number(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Element, E> {
        Ok(Element::Number(v as f64))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Element, E> {
        Ok(Element::Number(v as f64))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
        Coordinates(self.0).visit_seq(seq).map(Element::Nested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `features` squares of `ring` points each (the ring need not close for counting).
    fn collection(features: usize, ring: usize) -> String {
        let points: Vec<String> = (0..ring).map(|k| format!("[{k},{k}.5,7]")).collect();
        let feature = format!(r#"{{"type":"Feature","properties":{{"Ward":"w"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#, points.join(","));
        format!(r#"{{"features":[{}],"type":"FeatureCollection"}}"#, vec![feature; features].join(","))
    }

    fn exceeded(text: &str, budget: &BoundaryBudget) -> BudgetExceeded {
        match read(text.as_bytes(), budget) {
            Err(BoundaryError::TooLarge(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counts_are_refused_while_parsing_at_their_edges() {
        let budget = BoundaryBudget { features: 3, vertices: 12, ring_vertices: 4, ..BoundaryBudget::default() };
        let text = collection(3, 4);
        let features = read(text.as_bytes(), &budget).unwrap();
        assert_eq!(features[2].polygons[0][0][1], [1.0, 1.5]);
        assert_eq!(exceeded(&text, &BoundaryBudget { features: 2, ..budget }), BudgetExceeded { limit: "features", max: 2 });
        assert_eq!(exceeded(&text, &BoundaryBudget { vertices: 11, ..budget }), BudgetExceeded { limit: "vertices", max: 11 });
        assert_eq!(exceeded(&text, &BoundaryBudget { ring_vertices: 3, ..budget }), BudgetExceeded { limit: "ring_vertices", max: 3 });
        // Refused where the budget is passed, before the rest of the file is even looked at.
        let cut = format!("{}garbage", &text[..text.len() / 2]);
        assert_eq!(exceeded(&cut, &BoundaryBudget { ring_vertices: 1, ..budget }), BudgetExceeded { limit: "ring_vertices", max: 1 });
    }

    #[test]
    fn geometries_may_be_null_and_other_members_are_ignored() {
        let text = r#"{"type":"FeatureCollection","bbox":[0,0,1,1],"features":[{"type":"Feature","id":7,"geometry":null,"properties":{"WardCode":12}}]}"#;
        let features = read(text.as_bytes(), &BoundaryBudget::default()).unwrap();
        assert_eq!((features[0].code.as_deref(), features[0].polygons.len()), (Some("12"), 0));
        let untyped = r#"{"type":"FeatureCollection","features":[{"geometry":{"coordinates":[]}}]}"#;
        assert!(matches!(read(untyped.as_bytes(), &BoundaryBudget::default()), Err(BoundaryError::NotGeoJson(_))));
    }
}
