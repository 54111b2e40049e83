//! Analyses and bed-net plans as stored: small metadata records in the state
//! store (owned, with their parent, so deleting a dataset deletes them) and
//! the full results in the file store.

use crate::domain::{AnalysisId, DatasetId, Millis, PlanId, SessionId, UserId};
use crate::principal::Principal;
use crate::store::owned::OwnedRecord;
use crate::store::OwnedKind;
use mrpt_analysis::{ItnMethod, Method};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalysisRecord {
    pub id: AnalysisId,
    pub owner_id: UserId,
    pub session_id: SessionId,
    pub dataset_id: DatasetId,
    pub created_at: Millis,
    pub method: Method,
}

impl AnalysisRecord {
    pub fn new(principal: &Principal, dataset_id: DatasetId, method: Method) -> Self {
        Self {
            id: AnalysisId::random(),
            owner_id: principal.user_id(),
            session_id: principal.session_id(),
            dataset_id,
            created_at: Millis::now(),
            method,
        }
    }
}

impl OwnedRecord for AnalysisRecord {
    const KIND: OwnedKind = OwnedKind::Analysis;
    type Id = AnalysisId;

    fn id(&self) -> String {
        self.id.to_string()
    }

    fn owner(&self) -> UserId {
        self.owner_id
    }

    fn created_at(&self) -> Millis {
        self.created_at
    }

    fn parent(&self) -> Option<String> {
        Some(self.dataset_id.to_string())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRecord {
    pub id: PlanId,
    pub owner_id: UserId,
    pub session_id: SessionId,
    pub analysis_id: AnalysisId,
    pub dataset_id: DatasetId,
    pub created_at: Millis,
    pub method: ItnMethod,
}

impl PlanRecord {
    pub fn new(principal: &Principal, analysis: &AnalysisRecord, method: ItnMethod) -> Self {
        Self {
            id: PlanId::random(),
            owner_id: principal.user_id(),
            session_id: principal.session_id(),
            analysis_id: analysis.id,
            dataset_id: analysis.dataset_id,
            created_at: Millis::now(),
            method,
        }
    }
}

impl OwnedRecord for PlanRecord {
    const KIND: OwnedKind = OwnedKind::ItnPlan;
    type Id = PlanId;

    fn id(&self) -> String {
        self.id.to_string()
    }

    fn owner(&self) -> UserId {
        self.owner_id
    }

    fn created_at(&self) -> Millis {
        self.created_at
    }

    fn parent(&self) -> Option<String> {
        Some(self.analysis_id.to_string())
    }
}
