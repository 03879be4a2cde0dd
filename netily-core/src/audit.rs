//! Reading the audit log: a change's before and after as one line.

use serde_json::Value;

/// Columns that change with every write and say nothing on their own.
const NOISE: &[&str] = &["updated_at"];

/// "created", "deleted", or the fields that changed: `status: active →
/// suspended; phone: none → 555`. Secrets already arrive as "(hidden)" or
/// "(changed)" (the trigger hides them).
pub fn describe_change(before: Option<&Value>, after: Option<&Value>) -> String {
    match (before, after) {
        (None, Some(_)) => "created".into(),
        (Some(_), None) => "deleted".into(),
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut parts = vec![];
            for (k, new) in a {
                if NOISE.contains(&k.as_str()) {
                    continue;
                }
                let old = b.get(k).unwrap_or(&Value::Null);
                if old != new {
                    parts.push(format!("{k}: {} → {}", show(old), show(new)));
                }
            }
            if parts.is_empty() {
                "no visible change".into()
            } else {
                parts.join("; ")
            }
        }
        _ => "changed".into(),
    }
}

fn show(v: &Value) -> String {
    let text = match v {
        Value::Null => "none".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // One long value (a note, a key) must not make the line unreadable.
    if text.chars().count() > 60 {
        let mut cut: String = text.chars().take(57).collect();
        cut.push_str("...");
        cut
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_lists_the_fields_that_moved_and_skips_updated_at() {
        let b = json!({"username": "alice", "status": "active", "phone": null, "updated_at": "x"});
        let a =
            json!({"username": "alice", "status": "suspended", "phone": "555", "updated_at": "y"});
        assert_eq!(
            describe_change(Some(&b), Some(&a)),
            "phone: none → 555; status: active → suspended"
        );
        assert_eq!(describe_change(None, Some(&a)), "created");
        assert_eq!(describe_change(Some(&b), None), "deleted");
        assert_eq!(describe_change(Some(&b), Some(&b)), "no visible change");
    }

    #[test]
    fn long_values_are_cut() {
        let b = json!({"note": "a"});
        let a = json!({"note": "b".repeat(200)});
        let line = describe_change(Some(&b), Some(&a));
        assert!(line.len() < 80 && line.ends_with("..."), "{line}");
    }
}
