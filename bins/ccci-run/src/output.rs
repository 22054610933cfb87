//! The tier table a person reads at the end of a run.

use ccci_core::results::Results;
use std::path::Path;

/// Cut a summary to one screen line.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

pub fn table(r: &Results, run_dir: &Path) {
    println!(
        "run {}: {} {} ({}){}",
        r.run_id,
        r.recipe,
        r.r#ref,
        &r.head_sha[..12.min(r.head_sha.len())],
        r.previous
            .as_ref()
            .map(|p| format!(", upgraded from {p}"))
            .unwrap_or_default()
    );
    println!();
    println!("{:<9} {:<9} {:>7}  SUMMARY", "TIER", "STATUS", "TIME");
    for t in &r.tiers {
        println!(
            "{:<9} {:<9} {:>6.1}s  {}",
            t.name,
            t.status.as_str(),
            t.duration_s,
            clip(&t.summary, 160)
        );
        if let Some(red) = &t.red {
            println!(
                "{:<29}{} (signature {}): {}",
                "",
                red.class,
                red.signature.id,
                clip(&red.evidence.join("; "), 140)
            );
        }
    }
    println!(
        "{:<9} {:<9} {:>7}  {}",
        "teardown",
        r.teardown.status,
        "",
        clip(&r.teardown.summary, 160)
    );
    println!();
    for w in &r.warnings {
        println!("warning: {w}");
    }
    if !r.overlays.is_empty() {
        let used: Vec<String> = r
            .overlays
            .iter()
            .map(|o| format!("{} ({})", o.file, o.phase))
            .collect();
        println!("CI overlays: {}", used.join(", "));
    }
    if !r.left_out.is_empty() {
        println!("partial: left out {}", r.left_out.join(", "));
    }
    println!(
        "level L{} ({}), {} app{} deployed, {:.1} s",
        r.level,
        r.verdict,
        r.deploy_count,
        if r.deploy_count == 1 { "" } else { "s" },
        r.duration_s
    );
    println!(
        "results: {}",
        run_dir.join(ccci_core::results::FILE).display()
    );
}
