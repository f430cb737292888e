//! GTT's resource shapes: the Kubernetes-like envelope `{kind, version, namespace, name,
//! metadata, spec}`, webhooks, and case list pages.

use serde::de::DeserializeOwned;
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

/// A list answer: `{items: [...], metadata: {continue}}`, or a bare array.
#[derive(Debug, Clone)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    /// The cursor of the next page, if any.
    pub next: Option<String>,
}

/// The object form of a list answer.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    metadata: Option<ListMeta>,
}

/// Paging metadata of a list answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListMeta {
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
}

impl<T: DeserializeOwned> ListPage<T> {
    /// Parse either form. The form is told by the first byte rather than by an untagged enum,
    /// whose buffering cannot hand out raw items (`Box<RawValue>`, kept exactly as sent).
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        if bytes.trim_ascii_start().starts_with(b"[") {
            return Ok(Self {
                items: serde_json::from_slice(bytes)?,
                next: None,
            });
        }
        let page: Page<T> = serde_json::from_slice(bytes)?;
        Ok(Self {
            items: page.items,
            next: page
                .metadata
                .and_then(|m| m.continue_token)
                .filter(|c| !c.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    #[test]
    fn both_forms_keep_raw_items_exactly() {
        let page: ListPage<Box<RawValue>> = ListPage::from_slice(
            br#"{"items":[{"n": 123456789012345678901234567890, "f": 1.50}],"metadata":{"continue":"c2"}}"#,
        )
        .unwrap();
        assert_eq!(
            page.items[0].get(),
            r#"{"n": 123456789012345678901234567890, "f": 1.50}"#
        );
        assert_eq!(page.next.as_deref(), Some("c2"));
        let bare: ListPage<Box<RawValue>> = ListPage::from_slice(b" [ {\"a\" : 1e2} ]").unwrap();
        assert_eq!(bare.items[0].get(), r#"{"a" : 1e2}"#);
        assert_eq!(bare.next, None);
        let empty: ListPage<Webhook> =
            ListPage::from_slice(br#"{"metadata":{"continue":""}}"#).unwrap();
        assert!(empty.items.is_empty() && empty.next.is_none());
        assert!(ListPage::<Webhook>::from_slice(b"42").is_err());
    }
}
