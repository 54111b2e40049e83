//! Choosing the analysis variables: requested names, or the state's zone list, or every informative numeric column (ANALYSIS.md §3).

use crate::table::{ColumnKind, WardTable};

/// Two-letter state codes and the state names they stand for.
const STATE_CODES: [(&str, &str); 37] = [
    ("AB", "Abia"), ("AD", "Adamawa"), ("AK", "Akwa Ibom"), ("AN", "Anambra"), ("BC", "Bauchi"),
    ("BN", "Benue"), ("BO", "Borno"), ("BY", "Bayelsa"), ("CR", "Cross River"), ("DT", "Delta"),
    ("EB", "Ebonyi"), ("ED", "Edo"), ("EK", "Ekiti"), ("EN", "Enugu"), ("FCT", "FCT"), ("GM", "Gombe"),
    ("IM", "Imo"), ("JG", "Jigawa"), ("KB", "Kebbi"), ("KD", "Kaduna"), ("KG", "Kogi"), ("KN", "Kano"),
    ("KT", "Katsina"), ("KW", "Kwara"), ("LG", "Lagos"), ("NG", "Niger"), ("NS", "Nasarawa"), ("OG", "Ogun"),
    ("ON", "Ondo"), ("OS", "Osun"), ("OY", "Oyo"), ("PL", "Plateau"), ("RV", "Rivers"), ("SK", "Sokoto"),
    ("TR", "Taraba"), ("YB", "Yobe"), ("ZF", "Zamfara"),
];

/// Geopolitical zones: their states and the variables the reference uses for them.
const ZONES: [(&[&str], &[&str]); 6] = [
    (
        &["Benue", "Kogi", "Kwara", "Nasarawa", "Niger", "Plateau", "FCT"],
        &["u5_tpr_rdt", "nighttime_lights", "housing_quality", "soil_wetness", "distance_to_waterbodies", "ndmi", "urban_percentage"],
    ),
    (
        &["Adamawa", "Bauchi", "Borno", "Gombe", "Taraba", "Yobe"],
        &["u5_tpr_rdt", "distance_to_waterbodies", "rainfall", "soil_wetness", "urban_percentage"],
    ),
    (
        &["Jigawa", "Kaduna", "Kano", "Katsina", "Kebbi", "Sokoto", "Zamfara"],
        &["u5_tpr_rdt", "rainfall", "ndwi", "housing_quality", "elevation", "urban_percentage"],
    ),
    (&["Abia", "Anambra", "Ebonyi", "Enugu", "Imo"], &["u5_tpr_rdt", "ndwi", "housing_quality", "elevation", "urban_percentage"]),
    (
        &["Akwa Ibom", "Bayelsa", "Cross River", "Delta", "Edo", "Rivers"],
        &["u5_tpr_rdt", "ndwi", "housing_quality", "elevation", "urban_percentage"],
    ),
    (&["Ekiti", "Lagos", "Ogun", "Ondo", "Osun", "Oyo"], &["u5_tpr_rdt", "ndwi", "housing_quality", "elevation", "urban_percentage"]),
];

const IDENTIFIER_WORDS: [&str; 12] =
    ["code", "id", "fid", "objectid", "index", "x", "y", "lat", "latitude", "lon", "lng", "longitude"];
const IDENTIFIER_PARTS: [&str; 5] = ["population", "name", "ward", "lga", "state"];

/// Why the requested variables cannot be analysed.
#[derive(Debug, PartialEq)]
pub(crate) struct SelectionError {
    pub variable: Option<String>,
    pub message: String,
}

/// The chosen columns (indices into the table) and the chosen ones dropped as constant.
#[derive(Debug, PartialEq)]
pub(crate) struct Selection {
    pub columns: Vec<usize>,
    pub dropped: Vec<String>,
}

/// Resolves a requested name: an exact column name first, else a case-insensitive one.
pub(crate) fn resolve(table: &WardTable, name: &str) -> Result<usize, SelectionError> {
    table.find_column(name).ok_or_else(|| SelectionError {
        variable: Some(name.to_owned()),
        message: format!("The table has no column named \"{name}\"."),
    })
}

pub(crate) fn select(table: &WardTable, requested: Option<&[String]>) -> Result<Selection, SelectionError> {
    let selection = match requested {
        Some(names) => select_requested(table, names)?,
        None => select_default(table),
    };
    if selection.columns.len() < 2 {
        let mut message = String::from("At least two variables that vary between wards are needed");
        if !selection.dropped.is_empty() {
            message.push_str(&format!("; these have the same value in every ward: {}", selection.dropped.join(", ")));
        }
        if requested.is_none() {
            message.push_str(", and the table does not have two such numeric columns");
        }
        message.push('.');
        return Err(SelectionError { variable: None, message });
    }
    Ok(selection)
}

fn select_requested(table: &WardTable, names: &[String]) -> Result<Selection, SelectionError> {
    if names.is_empty() {
        return Err(SelectionError { variable: None, message: "Choose at least two variables to analyse.".into() });
    }
    let mut chosen = Vec::new();
    for name in names {
        let c = resolve(table, name)?;
        if table.columns()[c].kind != ColumnKind::Numeric {
            return Err(SelectionError {
                variable: Some(name.clone()),
                message: format!("The column \"{}\" holds text, not numbers, so it cannot be a risk variable.", table.columns()[c].name),
            });
        }
        if !chosen.contains(&c) {
            chosen.push(c);
        }
    }
    Ok(drop_constant(table, chosen))
}

fn select_default(table: &WardTable) -> Selection {
    if let Some(zone_vars) = detect_state(table).and_then(|s| zone_variables(&s)) {
        let present: Vec<usize> = zone_vars
            .iter()
            .filter_map(|v| table.columns().iter().position(|c| c.name.eq_ignore_ascii_case(v)))
            .filter(|&c| table.columns()[c].kind == ColumnKind::Numeric)
            .collect();
        let selection = drop_constant(table, present);
        if selection.columns.len() >= 2 {
            return selection;
        }
        let fallback = fallback_columns(table);
        return Selection { columns: fallback, dropped: selection.dropped };
    }
    Selection { columns: fallback_columns(table), dropped: Vec::new() }
}

fn fallback_columns(table: &WardTable) -> Vec<usize> {
    (0..table.columns().len())
        .filter(|&c| {
            let col = &table.columns()[c];
            col.kind == ColumnKind::Numeric && !is_identifier(&col.name) && !is_constant(col.numbers().unwrap_or(&[]))
        })
        .collect()
}

fn drop_constant(table: &WardTable, columns: Vec<usize>) -> Selection {
    let (dropped, kept): (Vec<usize>, Vec<usize>) =
        columns.into_iter().partition(|&c| is_constant(table.columns()[c].numbers().unwrap_or(&[])));
    Selection { columns: kept, dropped: dropped.into_iter().map(|c| table.columns()[c].name.clone()).collect() }
}

/// True when the non-missing values (NaN marks missing) take at most one distinct value.
pub(crate) fn is_constant(values: &[f64]) -> bool {
    let mut present = values.iter().filter(|v| !v.is_nan());
    match present.next() {
        Some(first) => present.all(|v| v == first),
        None => true,
    }
}

/// The state name of the table, from the first known `StateCode`, else the first `State`.
fn detect_state(table: &WardTable) -> Option<String> {
    let column = |name: &str| table.columns().iter().position(|c| c.name.eq_ignore_ascii_case(name));
    if let Some(c) = column("StateCode") {
        let found = (0..table.row_count()).find_map(|r| {
            let code = table.columns()[c].text(r)?;
            STATE_CODES.iter().find(|(k, _)| k.eq_ignore_ascii_case(code.trim())).map(|(_, s)| s.to_string())
        });
        if found.is_some() {
            return found;
        }
    }
    let c = column("State")?;
    let state = (0..table.row_count()).find_map(|r| table.columns()[c].text(r))?;
    let state = state.trim();
    let state = match state.len().checked_sub(6).filter(|&i| state.is_char_boundary(i)) {
        Some(i) if state[i..].eq_ignore_ascii_case(" state") => state[..i].trim_end(),
        _ => state,
    };
    Some(if state.eq_ignore_ascii_case("abuja") { "FCT".to_owned() } else { state.to_owned() })
}

fn zone_variables(state: &str) -> Option<&'static [&'static str]> {
    ZONES.iter().find(|(states, _)| states.iter().any(|s| s.eq_ignore_ascii_case(state))).map(|(_, vars)| *vars)
}

/// Whether a column name looks like an identifier or a label rather than a risk variable.
pub(crate) fn is_identifier(name: &str) -> bool {
    let lower = name.to_lowercase();
    if IDENTIFIER_PARTS.iter().any(|p| lower.contains(p)) {
        return true;
    }
    words(name).iter().any(|w| IDENTIFIER_WORDS.iter().any(|id| id.eq_ignore_ascii_case(w)))
}

/// Splits a name at `_`, `-`, spaces and lower-to-upper case changes.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for ch in name.chars() {
        if matches!(ch, '_' | '-' | ' ') {
            out.push(std::mem::take(&mut current));
            previous_lower = false;
            continue;
        }
        if ch.is_uppercase() && previous_lower {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = ch.is_lowercase();
        current.push(ch);
    }
    out.push(current);
    out.retain(|w| !w.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{read_table, TableFormat};
    use crate::budget::TableBudget;

    fn table(text: &str) -> WardTable {
        read_table(text.as_bytes(), TableFormat::Csv, &TableBudget::default()).unwrap()
    }

    fn names(t: &WardTable, s: &Selection) -> Vec<String> {
        s.columns.iter().map(|&c| t.columns()[c].name.clone()).collect()
    }

    #[test]
    fn identifier_words() {
        assert_eq!(words("objectId"), ["object", "Id"]);
        assert_eq!(words("pop_X-lat lon"), ["pop", "X", "lat", "lon"]);
        for id in ["FID", "ward_code", "Lat", "POINT_X", "TotalPopulation", "LGA_name", "centroidLon", "row index"] {
            assert!(is_identifier(id), "{id}");
        }
        for var in ["rainfall", "u5_tpr_rdt", "elevation", "xylem", "latency"] {
            assert!(!is_identifier(var), "{var}");
        }
    }

    #[test]
    fn zone_from_state_code() {
        let t = table("WardName,StateCode,State,u5_tpr_rdt,rainfall,ndwi,soil_wetness,urban_percentage\na,XX,Kano,1,2,3,4,5\nb,gm,Kano,2,3,4,5,6\n");
        // GM is Gombe (North_East): ndwi is not in that list and the zone order is kept.
        assert_eq!(names(&t, &select(&t, None).unwrap()), ["u5_tpr_rdt", "rainfall", "soil_wetness", "urban_percentage"]);
    }

    #[test]
    fn zone_from_state_name_with_suffix_and_abuja() {
        let t = table("WardName,State,ndmi,RAINFALL,u5_tpr_rdt\na,Abuja State,1,2,3\nb,Abuja,2,3,1\n");
        // FCT is North_Central: u5_tpr_rdt and ndmi (case-insensitive), rainfall is not in the list.
        assert_eq!(names(&t, &select(&t, None).unwrap()), ["u5_tpr_rdt", "ndmi"]);
    }

    #[test]
    fn constant_zone_variable_dropped_then_fallback() {
        let t = table("WardName,State,u5_tpr_rdt,rainfall,other,WardCode,lat\na,Gombe,1,7,1,3,4\nb,Gombe,2,7,5,4,5\nc,Gombe,3,NA,2,5,6\n");
        let s = select(&t, None).unwrap();
        assert_eq!(names(&t, &s), ["u5_tpr_rdt", "other"]);
        assert_eq!(s.dropped, ["rainfall"]);
    }

    #[test]
    fn no_state_falls_back() {
        let t = table("WardName,a,b,c,text\nx,1,2,5,q\ny,2,3,5,r\n");
        assert_eq!(names(&t, &select(&t, None).unwrap()), ["a", "b"]);
    }

    #[test]
    fn too_few_default_variables() {
        let t = table("WardName,a,flat,label\nx,1,5,q\ny,2,5,r\n");
        let err = select(&t, None).unwrap_err();
        assert_eq!(err.variable, None);
        assert!(err.message.contains("two such numeric columns"), "{}", err.message);
    }

    #[test]
    fn requested_variables() {
        let t = table("WardName,a,B,c,label\nx,1,2,5,q\ny,2,3,5,r\n");
        let req = |v: &[&str]| select(&t, Some(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
        assert_eq!(names(&t, &req(&["b", "a", "B"]).unwrap()), ["B", "a"]);
        assert_eq!(req(&["zz", "a"]).unwrap_err().variable.as_deref(), Some("zz"));
        assert_eq!(req(&["label", "a"]).unwrap_err().variable.as_deref(), Some("label"));
        assert_eq!(req(&[]).unwrap_err().variable, None);
        let err = req(&["a", "c"]).unwrap_err();
        assert_eq!(err.variable, None);
        assert!(err.message.contains("c"), "{}", err.message);
    }
}
