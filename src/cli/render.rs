//! The client's output: a progress bar on stderr while results arrive, then a table of
//! per-instance results and the summary; or JSON, one object per stream message.

use std::io::{IsTerminal, Write};

use prost::Message;
use serde_json::{Value, json};

use crate::api::pb;

/// One line of the final table.
#[derive(Debug, Clone)]
pub struct Row {
    pub instance: String,
    /// The instance's region (empty for a command's tasks).
    pub region: String,
    pub outcome: String,
    pub failed: bool,
    pub states: String,
    pub detail: String,
}

fn strip<'a>(name: &'a str, prefix: &str) -> &'a str {
    name.strip_prefix(prefix).unwrap_or(name)
}

fn states(previous: &str, current: &str) -> String {
    match (previous.is_empty(), current.is_empty()) {
        (true, true) => String::new(),
        (false, true) => previous.to_string(),
        (true, false) => current.to_string(),
        (false, false) if previous == current => current.to_string(),
        (false, false) => format!("{previous} -> {current}"),
    }
}

/// `REASON: message`, from a per-instance `google.rpc.Status`.
fn error_text(status: &tonic_types::pb::Status) -> String {
    let reason = status
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.ErrorInfo"))
        .and_then(|d| tonic_types::pb::ErrorInfo::decode(d.value.as_slice()).ok())
        .map(|info| info.reason)
        .unwrap_or_default();
    format!("{reason}: {}", status.message)
}

fn error_json(status: &tonic_types::pb::Status) -> Value {
    let info = status
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.ErrorInfo"))
        .and_then(|d| tonic_types::pb::ErrorInfo::decode(d.value.as_slice()).ok());
    json!({
        "code": tonic::Code::from_i32(status.code).description(),
        "message": status.message,
        "reason": info.as_ref().map(|i| i.reason.clone()),
        "metadata": info.map(|i| i.metadata),
    })
}

impl Row {
    pub fn from_instance(r: &pb::InstanceResult) -> Row {
        let outcome = pb::InstanceOutcome::try_from(r.outcome).unwrap_or_default();
        let mut detail = r.error.as_ref().map(error_text).unwrap_or_default();
        if r.forced {
            detail = format!("forced after a failed graceful stop {detail}")
                .trim()
                .to_string();
        }
        let billing = pb::Billing::try_from(r.billing_effective).unwrap_or_default();
        if matches!(
            billing,
            pb::Billing::KeepCharging | pb::Billing::StopCharging
        ) {
            detail = format!("{} {detail}", strip(billing.as_str_name(), "BILLING_"))
                .trim()
                .to_string();
        }
        Row {
            instance: r.instance_id.clone(),
            region: r.region.clone(),
            outcome: strip(outcome.as_str_name(), "INSTANCE_OUTCOME_").to_string(),
            failed: matches!(
                outcome,
                pb::InstanceOutcome::Failed | pb::InstanceOutcome::Unspecified
            ),
            states: states(&r.vendor_previous_state, &r.vendor_state),
            detail,
        }
    }

    pub fn from_task(r: &pb::TaskResult) -> Row {
        let outcome = pb::CommandOutcome::try_from(r.outcome).unwrap_or_default();
        let mut detail = r.error.as_ref().map(error_text).unwrap_or_default();
        if let Ok(action) = pb::DryRunAction::try_from(r.dry_run_action) {
            if action != pb::DryRunAction::Unspecified {
                detail = strip(action.as_str_name(), "DRY_RUN_ACTION_")
                    .to_lowercase()
                    .replace('_', " ");
            }
        }
        if let Some(code) = r.exit_code {
            detail = format!("exit code {code} {detail}").trim().to_string();
        }
        Row {
            instance: r.instance_id.clone(),
            region: String::new(),
            outcome: strip(outcome.as_str_name(), "COMMAND_OUTCOME_").to_string(),
            failed: matches!(
                outcome,
                pb::CommandOutcome::Failed | pb::CommandOutcome::Unspecified
            ),
            states: states(&r.vendor_previous_state, &r.vendor_state),
            detail,
        }
    }
}

/// The progress bar and the final report.
pub struct Progress {
    total: usize,
    done: usize,
    draw: bool,
    json: bool,
    last: String,
    summary: Option<pb::Summary>,
}

impl Progress {
    /// `total` 0 means unknown (an execution's instances are learned from the stream).
    pub fn new(total: usize, json: bool) -> Progress {
        let draw = !json && std::io::stderr().is_terminal();
        Progress {
            total,
            done: 0,
            draw,
            json,
            last: String::new(),
            summary: None,
        }
    }

    fn redraw(&self) {
        if !self.draw {
            return;
        }
        const WIDTH: usize = 30;
        let line = if self.total > 0 {
            let filled = (self.done * WIDTH / self.total.max(1)).min(WIDTH);
            format!(
                "[{}{}] {}/{} {}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled),
                self.done,
                self.total,
                self.last
            )
        } else {
            format!("{} results {}", self.done, self.last)
        };
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r\x1b[2K{}",
            line.chars().take(100).collect::<String>()
        );
        let _ = err.flush();
    }

    pub fn result(&mut self, row: &Row) {
        self.done += 1;
        self.last = format!("{} {}", row.instance, row.outcome);
        self.redraw();
    }

    pub fn note(&mut self, instance: &str, state: &str) {
        self.last = format!("{instance} {state}");
        self.redraw();
    }

    /// The number of results the operation announced, when the request did not say (a
    /// selector's matches).
    pub fn expect(&mut self, unique: usize) {
        if self.total == 0 {
            self.total = unique;
        }
    }

    pub fn summary(&mut self, summary: pb::Summary) {
        self.summary = Some(summary);
    }

    /// Prints the table (unless JSON) and returns the exit status.
    pub fn finish(self, rows: &[Row]) -> i32 {
        if self.draw {
            eprint!("\r\x1b[2K");
        }
        if !self.json {
            let width = |f: fn(&Row) -> &str, title: &str| {
                rows.iter()
                    .map(|r| f(r).len())
                    .max()
                    .unwrap_or(0)
                    .max(title.len())
            };
            let (wi, wo, ws) = (
                width(|r| &r.instance, "INSTANCE"),
                width(|r| &r.outcome, "OUTCOME"),
                width(|r| &r.states, "STATE"),
            );
            // Instances have a region (a command's tasks do not): a column after the id.
            let regions = rows.iter().any(|r| !r.region.is_empty());
            let wr = if regions {
                width(|r| &r.region, "REGION") + 2
            } else {
                0
            };
            let region = |text: &str| {
                if regions {
                    format!("{text:wr$}")
                } else {
                    String::new()
                }
            };
            // A selector that matched nothing has no table, only its summary.
            if !rows.is_empty() || self.summary.as_ref().is_none_or(|s| s.regions.is_empty()) {
                println!(
                    "{:wi$}  {}{:wo$}  {:ws$}  DETAIL",
                    "INSTANCE",
                    region("REGION"),
                    "OUTCOME",
                    "STATE"
                );
            }
            for r in rows {
                println!(
                    "{:wi$}  {}{:wo$}  {:ws$}  {}",
                    r.instance,
                    region(&r.region),
                    r.outcome,
                    r.states,
                    r.detail
                );
            }
            if let Some(s) = &self.summary {
                let mut counts: Vec<(&String, &u32)> = s.outcome_counts.iter().collect();
                counts.sort();
                let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let counts = if counts.is_empty() {
                    String::new()
                } else {
                    format!(": {}", counts.join(", "))
                };
                let elapsed = s
                    .elapsed
                    .as_ref()
                    .map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9)
                    .unwrap_or(0.0);
                println!(
                    "{} instance(s){counts}; {} vendor call(s), {} retried, {} throttled; {elapsed:.2} s",
                    s.unique, s.vendor_calls, s.retries, s.throttled
                );
                for r in &s.regions {
                    match &r.error {
                        None => println!("region {}: {} matched", r.region, r.matched),
                        Some(error) => println!(
                            "region {}: error {} (nothing there was stopped)",
                            r.region,
                            error_text(error)
                        ),
                    }
                }
                for note in &s.notes {
                    println!("note: {note}");
                }
            }
        }
        // A stream that ended without its summary, or with fewer results than it announced,
        // did not finish: say so rather than report success.
        let Some(summary) = self
            .summary
            .as_ref()
            .filter(|s| s.unique as usize == rows.len())
        else {
            eprintln!(
                "stopgate: the stream ended before every result and the summary arrived; check the instances' state"
            );
            return 2;
        };
        // A region a selector could not read may hold instances that were meant to stop.
        let unread = summary.regions.iter().any(|r| r.error.is_some());
        i32::from(unread || rows.iter().any(|r| r.failed))
    }
}

fn summary_json(s: &pb::Summary) -> Value {
    json!({"summary": {
        "requested": s.requested, "unique": s.unique, "outcome_counts": s.outcome_counts,
        "vendor_calls": s.vendor_calls, "retries": s.retries, "throttled": s.throttled,
        "elapsed_seconds": s.elapsed.as_ref().map(|d| d.seconds as f64 + f64::from(d.nanos) / 1e9),
        "notes": s.notes, "vendor_request_ids": s.vendor_request_ids,
        "regions": s.regions.iter().map(|r| json!({
            "region": r.region, "matched": r.matched, "error": r.error.as_ref().map(error_json),
        })).collect::<Vec<Value>>(),
    }})
}

fn accepted_json(a: &pb::OperationAccepted) -> Value {
    json!({"accepted": {
        "request_id": a.request_id, "reattached": a.reattached, "requested": a.requested,
        "unique": a.unique, "recorded": a.recorded, "finished": a.finished,
        "retention_seconds": a.retention.as_ref().map(|d| d.seconds),
    }})
}

/// One StopInstances stream message as JSON.
pub fn json_instance_message(m: &pb::StopInstancesResponse) -> Value {
    use pb::stop_instances_response::Event;
    let state = |v: i32| {
        pb::InstanceState::try_from(v)
            .unwrap_or_default()
            .as_str_name()
    };
    match &m.event {
        Some(Event::Result(r)) => json!({"result": {
            "instance_id": r.instance_id, "region": r.region,
            "outcome": pb::InstanceOutcome::try_from(r.outcome).unwrap_or_default().as_str_name(),
            "previous_state": state(r.previous_state), "current_state": state(r.current_state),
            "vendor_previous_state": r.vendor_previous_state, "vendor_state": r.vendor_state,
            "vendor_request_id": r.vendor_request_id,
            "billing_effective": pb::Billing::try_from(r.billing_effective).unwrap_or_default().as_str_name(),
            "forced": r.forced,
            "error": r.error.as_ref().map(error_json),
        }}),
        Some(Event::Progress(p)) => {
            json!({"progress": {"instance_id": p.instance_id, "region": p.region, "state": state(p.state), "vendor_state": p.vendor_state, "message": p.message}})
        }
        Some(Event::Summary(s)) => summary_json(s),
        Some(Event::Accepted(a)) => accepted_json(a),
        None => Value::Null,
    }
}

/// One StopCommandExecution stream message as JSON.
pub fn json_command_message(m: &pb::StopCommandExecutionResponse) -> Value {
    use pb::stop_command_execution_response::Event;
    let state = |v: i32| pb::TaskState::try_from(v).unwrap_or_default().as_str_name();
    match &m.event {
        Some(Event::Result(r)) => json!({"result": {
            "instance_id": r.instance_id,
            "outcome": pb::CommandOutcome::try_from(r.outcome).unwrap_or_default().as_str_name(),
            "previous_state": state(r.previous_state), "current_state": state(r.current_state),
            "vendor_previous_state": r.vendor_previous_state, "vendor_state": r.vendor_state,
            "vendor_request_id": r.vendor_request_id, "exit_code": r.exit_code,
            "dry_run_action": pb::DryRunAction::try_from(r.dry_run_action).unwrap_or_default().as_str_name(),
            "error": r.error.as_ref().map(error_json),
        }}),
        Some(Event::Progress(p)) => {
            json!({"progress": {"instance_id": p.instance_id, "state": state(p.state), "vendor_state": p.vendor_state}})
        }
        Some(Event::Summary(s)) => summary_json(s),
        Some(Event::Accepted(a)) => accepted_json(a),
        None => Value::Null,
    }
}
