//! Finding the header row of a DHIS2 export and the columns it names (TPR.md 1.2 to 1.5).

use std::sync::LazyLock;

use super::names::match_form;

/// The location and period columns, in the order of TPR.md 1.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    State,
    Lga,
    Ward,
    WardCode,
    Facility,
    FacilityLevel,
    Period,
}

const ROLES: [(Role, &[&str]); 7] = [
    (Role::State, &["State", "StateName", "orgunitlevel2"]),
    (Role::Lga, &["LGA", "LGAName", "orgunitlevel3"]),
    (
        Role::Ward,
        &["WardName", "Ward", "ward_name", "orgunitlevel4"],
    ),
    (Role::WardCode, &["WardCode", "ward_code"]),
    (
        Role::Facility,
        &[
            "HealthFacility",
            "organisationunitname",
            "FacilityName",
            "orgunitlevel5",
        ],
    ),
    (
        Role::FacilityLevel,
        &["Facility level", "FacilityLevel", "facility_level"],
    ),
    (
        Role::Period,
        &["periodcode", "periodid", "periodname", "period"],
    ),
];

/// DHIS2's `na` -> `0` corruption of two header names.
const ALIASES: [(&str, &str); 2] = [
    ("period0me", "periodname"),
    ("organisationunit0me", "organisationunitname"),
];

/// The test methods, `rdt` first as results list them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Rdt,
    Microscopy,
}

pub const METHODS: [Method; 2] = [Method::Rdt, Method::Microscopy];

/// What a count column counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Tested,
    Positive,
}

/// Age groups in the order of TPR.md 1.4: under five, five and over (not pregnant), pregnant women.
pub const AGES: [&str; 3] = ["<5yrs", "≥5yrs (excl PW)", "Preg Women (PW)"];

/// One of the twelve count columns of TPR.md 1.4, numbered in the order of its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountColumn(pub usize);

impl CountColumn {
    pub fn new(method: Method, count: Count, age: usize) -> CountColumn {
        CountColumn(method as usize * 6 + count as usize * 3 + age)
    }

    /// The name DHIS2 gives the column.
    pub fn name(self) -> String {
        let stem = match (self.0 / 6, (self.0 / 3) % 2) {
            (0, 0) => "Persons presenting with fever & tested by RDT",
            (0, _) => "Persons tested positive for malaria by RDT",
            (_, 0) => "Persons presenting with fever and tested by Microscopy",
            (_, _) => "Persons tested positive for malaria by Microscopy",
        };
        format!("{stem} {}", AGES[self.0 % 3])
    }
}

/// The match forms of every recognised name: a role's, or a count column's (index 0-11).
static RECOGNISED: LazyLock<Vec<(String, Recognised)>> = LazyLock::new(|| {
    let mut names = Vec::new();
    for (role, list) in ROLES {
        for (rank, name) in list.iter().enumerate() {
            names.push((match_form(name), Recognised::Role(role, rank)));
        }
    }
    for i in 0..12 {
        names.push((
            match_form(&CountColumn(i).name()),
            Recognised::Count(CountColumn(i)),
        ));
    }
    names
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recognised {
    /// A role and the name's place in its list of preference.
    Role(Role, usize),
    Count(CountColumn),
}

fn recognise(form: &str) -> Option<Recognised> {
    let form = ALIASES
        .iter()
        .find(|(alias, _)| *alias == form)
        .map_or(form, |(_, name)| name);
    RECOGNISED
        .iter()
        .find(|(name, _)| name == form)
        .map(|(_, r)| *r)
}

/// The header row and where each column it names stands.
#[derive(Clone, Debug)]
pub struct Header {
    pub line: usize,
    /// The header cells, trimmed, empty where the cell is.
    pub cells: Vec<String>,
    roles: [Option<usize>; 7],
    /// For each count column, the positions of every header naming it (file order).
    pub counts: [Vec<usize>; 12],
}

impl Header {
    /// The header described by these cells, or `None` when none of them is a recognised name.
    pub fn recognise(line: usize, cells: Vec<String>) -> Option<Header> {
        let forms: Vec<String> = cells.iter().map(|c| match_form(c)).collect();
        let found: Vec<Option<Recognised>> = forms.iter().map(|f| recognise(f)).collect();
        if found.iter().all(Option::is_none) {
            return None;
        }
        let mut roles = [None; 7];
        for (slot, (role, _)) in roles.iter_mut().zip(ROLES) {
            // The name earliest in the role's list wins; among equal names the leftmost.
            *slot = found
                .iter()
                .enumerate()
                .filter_map(|(pos, r)| match r {
                    Some(Recognised::Role(r, rank)) if *r == role => Some((*rank, pos)),
                    _ => None,
                })
                .min()
                .map(|(_, pos)| pos);
        }
        let mut counts: [Vec<usize>; 12] = Default::default();
        for (pos, form) in forms.iter().enumerate() {
            let column = match found[pos] {
                Some(Recognised::Count(c)) => Some(c),
                Some(Recognised::Role(..)) => None,
                None => copy_of(form).and_then(|base| match recognise(base) {
                    Some(Recognised::Count(c)) if forms.iter().any(|f| f == base) => Some(c),
                    _ => None,
                }),
            };
            if let Some(c) = column {
                counts[c.0].push(pos);
            }
        }
        Some(Header {
            line,
            cells,
            roles,
            counts,
        })
    }

    pub fn role(&self, role: Role) -> Option<usize> {
        self.roles[role as usize]
    }

    pub fn has(&self, column: CountColumn) -> bool {
        !self.counts[column.0].is_empty()
    }

    /// The non-empty header cells in file order, as a 422 lists them.
    pub fn found(&self) -> Vec<String> {
        self.cells
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect()
    }
}

/// `B` of a header `B.N` (pandas' name for a repeated header).
fn copy_of(form: &str) -> Option<&str> {
    let (base, n) = form.rsplit_once('.')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cells: &[&str]) -> Option<Header> {
        Header::recognise(1, cells.iter().map(|c| c.trim().to_owned()).collect())
    }

    #[test]
    fn roles_by_list_order_then_leftmost() {
        let h = header(&[
            "orgunitlevel4",
            "WardName",
            "x",
            "wardname",
            "period0me",
            "periodid",
            "organisationunit0me",
        ])
        .unwrap();
        assert_eq!(h.role(Role::Ward), Some(1));
        assert_eq!(h.role(Role::Period), Some(5));
        assert_eq!(h.role(Role::Facility), Some(6));
        assert_eq!(h.role(Role::State), None);
        let h = header(&["Ward", "period0me", "Facility  Level"]).unwrap();
        assert_eq!(
            (h.role(Role::Period), h.role(Role::FacilityLevel)),
            (Some(1), Some(2))
        );
    }

    #[test]
    fn nothing_recognised_is_no_header() {
        assert!(header(&["", "District", "Month"]).is_none());
        // A copy alone is no recognised name.
        assert!(header(&["Ward.1"]).is_none());
    }

    #[test]
    fn count_groups_take_variants_repeats_and_copies() {
        let u5 = "Persons presenting with fever & tested by RDT <5yrs";
        let h = header(&[
            "Ward",
            u5,
            "Persons presenting with fever and tested by RDT  <5YRS",
            "Persons presenting with fever & tested by RDT <5yrs.1",
            "Persons tested positive for malaria by RDT  â‰¥5yrs (excl PW)",
            "Persons tested positive for malaria by RDT <5yrs.1",
            "Ward.2",
        ])
        .unwrap();
        let tested_u5 = CountColumn::new(Method::Rdt, Count::Tested, 0);
        assert_eq!(h.counts[tested_u5.0], [1, 2, 3]);
        assert_eq!(
            h.counts[CountColumn::new(Method::Rdt, Count::Positive, 1).0],
            [4]
        );
        // `.1` of a name no other header has is no copy.
        assert!(!h.has(CountColumn::new(Method::Rdt, Count::Positive, 0)));
        assert_eq!(h.role(Role::Ward), Some(0));
    }

    #[test]
    fn the_twelve_names_in_table_order() {
        assert_eq!(
            CountColumn(0).name(),
            "Persons presenting with fever & tested by RDT <5yrs"
        );
        assert_eq!(
            CountColumn(4).name(),
            "Persons tested positive for malaria by RDT ≥5yrs (excl PW)"
        );
        assert_eq!(
            CountColumn(8).name(),
            "Persons presenting with fever and tested by Microscopy Preg Women (PW)"
        );
        assert_eq!(
            CountColumn(9).name(),
            "Persons tested positive for malaria by Microscopy <5yrs"
        );
        assert_eq!(
            CountColumn::new(Method::Microscopy, Count::Positive, 2),
            CountColumn(11)
        );
    }
}
