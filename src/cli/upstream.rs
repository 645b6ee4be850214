//! `herald upstream`: the software the project runs, as its upstreams announce it. `check`
//! reads every source once now (what `serve` does every `upstream_poll_secs`) and says
//! what each gave; `list` and `show` print the product incidents herald opened.

use crate::config::Settings;
use crate::feeds::{Tally, UpstreamReader};
use crate::incident::ProductIncidentId;
use crate::printable::to_json_pretty;
use crate::report;
use crate::store::Store;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Read every `[[upstream]]` source once now and keep what it announces (the jobs that
    /// open the issues run in `herald serve`).
    Check,
    /// The product incidents, newest first.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One product incident whole: versions, severity, ids, every source, the text.
    Show { id: i64 },
    /// The items herald judged, newest first, and what each was to each product:
    /// `not_security`, `not_this_product`, `not_deployed`, `affects` (and the incident),
    /// or `history` (a feed's entries when the product first read it).
    Items {
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10000))]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn upstream(settings: &Settings, command: UpstreamCommand) -> anyhow::Result<()> {
    match command {
        UpstreamCommand::Check => check(settings).await,
        UpstreamCommand::List { json } => list(settings, json).await,
        UpstreamCommand::Show { id } => show(settings, ProductIncidentId(id)).await,
        UpstreamCommand::Items { limit, json } => items(settings, limit, json).await,
    }
}

async fn check(settings: &Settings) -> anyhow::Result<()> {
    let Some(upstream) = settings.upstream.clone() else {
        anyhow::bail!(
            "no [[upstream]] table in herald.toml: list the software the project runs (see \
             the README and docs/guide.md, \"The software the project runs\")"
        );
    };
    // Announcement lists are not read now: their mail comes to the security mailbox.
    for product in upstream.products.iter().filter(|p| !p.lists.is_empty()) {
        println!(
            "ok    lists of {}: {} (judged as their mail reaches the security mailbox)",
            report::safe_line(&product.product.name),
            report::safe_line(&product.lists.join(", "))
        );
    }
    let store = Store::open(&settings.database_url).await?;
    let reads = UpstreamReader::new(store.clone(), upstream)?
        .read_all()
        .await;
    store.close().await;
    let mut failed = 0;
    for read in &reads {
        let source = report::safe_line(&read.source);
        match &read.outcome {
            Ok(tally) if tally.unchanged => println!("ok    {source}: unchanged"),
            Ok(Tally {
                not_before: Some(at),
                ..
            }) => println!(
                "ok    {source}: read less than two hours ago (its limit); next after {}",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            Ok(tally) if tally.history > 0 => println!(
                "ok    {source}: first reading, {} item(s) recorded as history (announced \
                 before; what comes next is news)",
                tally.history
            ),
            Ok(tally) => println!(
                "ok    {source}: {} item(s) judged, {} incident(s) opened, {} joined",
                tally.judged, tally.opened, tally.joined
            ),
            Err(error) => {
                failed += 1;
                println!("FAIL  {}", report::safe_line(&error.to_string()));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} source(s) could not be read", reads.len());
    }
    Ok(())
}

async fn list(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let rows = store.product_incidents().await?;
    store.close().await;
    if json {
        let values: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "id": row.id,
                    "issue": row.issue.as_ref().map(|(_, _, url)| url),
                    "incident": row.incident,
                })
            })
            .collect();
        println!("{}", to_json_pretty(&values)?);
    } else if rows.is_empty() {
        println!("no product incidents");
    } else {
        for row in &rows {
            let incident = &row.incident;
            println!(
                "{:>6}  {}  {:<8}  {}  {}  {} source(s)  {}",
                row.id,
                incident.opened_at.format("%Y-%m-%d %H:%M"),
                incident.severity.as_str(),
                report::safe_line(&incident.product),
                report::safe_line(&incident.key),
                incident.sightings.len(),
                row.issue
                    .as_ref()
                    .map_or("(no issue yet)", |(_, _, url)| url.as_str())
            );
        }
    }
    Ok(())
}

async fn items(settings: &Settings, limit: i64, json: bool) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let items = store.upstream_items(limit).await?;
    store.close().await;
    if json {
        println!("{}", to_json_pretty(&items)?);
    } else if items.is_empty() {
        println!("no upstream item judged yet");
    } else {
        for item in &items {
            let incident = item
                .incident
                .map(|id| format!("  incident {id}"))
                .unwrap_or_default();
            println!(
                "{}  {:<16}  {:<16}  {}  {}{incident}",
                item.seen_at.format("%Y-%m-%d %H:%M"),
                report::safe_line(&item.product),
                item.verdict,
                report::safe_line(&item.source),
                report::safe_line(&item.item),
            );
        }
    }
    Ok(())
}

async fn show(settings: &Settings, id: ProductIncidentId) -> anyhow::Result<()> {
    let store = Store::open(&settings.database_url).await?;
    let row = store.product_incident(id).await?;
    store.close().await;
    let Some(row) = row else {
        anyhow::bail!("no product incident {id}");
    };
    println!("{}", to_json_pretty(&row.incident)?);
    Ok(())
}
