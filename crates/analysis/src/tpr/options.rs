//! The choices of a TPR computation (TPR.md 3.1), read from the `options` JSON of a request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::period::{parse_bound, Period, PeriodRange};
use super::TprError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeGroup {
    U5,
    O5,
    Pw,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodChoice {
    Rdt,
    Microscopy,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FacilityLevel {
    All,
    Primary,
    Secondary,
    Tertiary,
}

/// The options as the result echoes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TprOptions {
    pub age_group: AgeGroup,
    pub method: MethodChoice,
    pub facility_level: FacilityLevel,
    pub from: Option<String>,
    pub to: Option<String>,
    pub dataset_id: Option<String>,
    pub population_column: String,
}

impl Default for TprOptions {
    fn default() -> Self {
        TprOptions {
            age_group: AgeGroup::U5,
            method: MethodChoice::Rdt,
            facility_level: FacilityLevel::All,
            from: None,
            to: None,
            dataset_id: None,
            population_column: "Population".to_owned(),
        }
    }
}

impl TprOptions {
    /// Reads the options object; a known field with another value is `InvalidInput` naming it,
    /// unknown fields are ignored.
    pub fn from_json(value: &Value) -> Result<TprOptions, TprError> {
        let invalid = |field: &str| TprError::InvalidInput {
            field: field.to_owned(),
        };
        let object = value.as_object().ok_or_else(|| invalid("options"))?;
        let mut options = TprOptions::default();
        fn choice<T: for<'de> Deserialize<'de>>(v: &Value) -> Option<T> {
            v.is_string()
                .then(|| serde_json::from_value(v.clone()).ok())
                .flatten()
        }
        if let Some(v) = object.get("age_group") {
            options.age_group = choice(v).ok_or_else(|| invalid("age_group"))?;
        }
        if let Some(v) = object.get("method") {
            options.method = choice(v).ok_or_else(|| invalid("method"))?;
        }
        if let Some(v) = object.get("facility_level") {
            options.facility_level = choice(v).ok_or_else(|| invalid("facility_level"))?;
        }
        let bound = |field: &str| -> Result<Option<String>, TprError> {
            match object.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if parse_bound(s).is_some() => Ok(Some(s.clone())),
                Some(_) => Err(invalid(field)),
            }
        };
        options.from = bound("from")?;
        options.to = bound("to")?;
        options.range().ok_or_else(|| invalid("to"))?;
        match object.get("dataset_id") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if !s.is_empty() => options.dataset_id = Some(s.clone()),
            Some(_) => return Err(invalid("dataset_id")),
        }
        match object.get("population_column") {
            None => {}
            Some(Value::String(s)) if !s.trim().is_empty() => {
                options.population_column = s.trim().to_owned()
            }
            Some(_) => return Err(invalid("population_column")),
        }
        Ok(options)
    }

    /// The period range; `None` when `from` lies after `to` (or a bound does not read).
    pub(crate) fn range(&self) -> Option<PeriodRange> {
        let read = |b: &Option<String>| -> Option<Option<Period>> {
            match b {
                None => Some(None),
                Some(s) => parse_bound(s).map(Some),
            }
        };
        PeriodRange::new(read(&self.from)?, read(&self.to)?)
    }

    /// The name of the TPR column: `u5_tpr_rdt` for the defaults.
    pub fn column(&self) -> String {
        let age = match self.age_group {
            AgeGroup::U5 => "u5",
            AgeGroup::O5 => "o5",
            AgeGroup::Pw => "pw",
            AgeGroup::All => "all",
        };
        let method = match self.method {
            MethodChoice::Rdt => "rdt",
            MethodChoice::Microscopy => "microscopy",
            MethodChoice::Both => "both",
        };
        format!("{age}_tpr_{method}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(v: Value) -> String {
        match TprOptions::from_json(&v) {
            Err(TprError::InvalidInput { field }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_column() {
        let o = TprOptions::from_json(&json!({"unknown": 1})).unwrap();
        assert_eq!(o, TprOptions::default());
        assert_eq!(o.column(), "u5_tpr_rdt");
        let o = TprOptions::from_json(
            &json!({"age_group": "all", "method": "both", "facility_level": "primary",
            "from": "2022-02", "to": "2023", "dataset_id": "d1", "population_column": " Pop "}),
        )
        .unwrap();
        assert_eq!(o.column(), "all_tpr_both");
        assert_eq!(
            (
                o.from.as_deref(),
                o.to.as_deref(),
                o.population_column.as_str()
            ),
            (Some("2022-02"), Some("2023"), "Pop")
        );
        assert_eq!(
            serde_json::to_value(TprOptions::default()).unwrap(),
            json!({"age_group": "u5", "method": "rdt", "facility_level": "all", "from": null, "to": null,
                   "dataset_id": null, "population_column": "Population"})
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        assert_eq!(field(json!([])), "options");
        assert_eq!(field(json!({"age_group": "U5"})), "age_group");
        assert_eq!(field(json!({"age_group": null})), "age_group");
        assert_eq!(field(json!({"method": "pcr"})), "method");
        assert_eq!(field(json!({"facility_level": 1})), "facility_level");
        assert_eq!(field(json!({"from": "2022-13"})), "from");
        assert_eq!(field(json!({"from": "202201"})), "from");
        assert_eq!(field(json!({"to": 2022})), "to");
        assert_eq!(field(json!({"from": "2023-01", "to": "2022"})), "to");
        assert_eq!(field(json!({"dataset_id": 5})), "dataset_id");
        assert_eq!(field(json!({"population_column": ""})), "population_column");
    }
}
