//! GTT's resource shapes: the Kubernetes-like envelope `{kind, version, namespace, name,
//! metadata, spec}`, webhooks, and case list pages.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A webhook subscription as GTT stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    #[serde(default = "webhook_kind")]
    pub kind: String,
    #[serde(default = "webhook_version")]
    pub version: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub spec: WebhookSpec,
}

/// What a webhook fires on and where it delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSpec {
    pub url: String,
    /// Version of the watched resource (e.g. `v1alpha`).
    pub version: String,
    /// Watched resource kind (e.g. `case`).
    pub kind: String,
    /// Triggering action (e.g. `create`).
    pub action: String,
}

fn webhook_kind() -> String {
    "webhook".into()
}

fn webhook_version() -> String {
    "v1".into()
}

/// A list answer: `{items: [...], metadata: {continue}}` (a bare array is accepted too).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListPage<T> {
    Page {
        #[serde(default = "Vec::new")]
        items: Vec<T>,
        #[serde(default)]
        metadata: Option<ListMeta>,
    },
    Bare(Vec<T>),
}

/// Paging metadata of a list answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListMeta {
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

impl<T> ListPage<T> {
    /// The items and the cursor of the next page, if any.
    pub fn into_parts(self) -> (Vec<T>, Option<String>) {
        match self {
            ListPage::Page { items, metadata } => (
                items,
                metadata
                    .and_then(|m| m.continue_token)
                    .filter(|c| !c.is_empty()),
            ),
            ListPage::Bare(items) => (items, None),
        }
    }
}
