//! `devices`: the configured plant description (`[plant] description`, a `plant.toml`) as a
//! table of every session, one row per device with its array's nameplate and its site, so that
//! analysts join diagnoses with nameplates and predict rates each array by its own. Without a
//! description the table is there, empty.

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use pvflow_plant::Plant;
use std::sync::Arc;

/// The `devices` table of a plant description. It keeps the description's text, which is what
/// a distributed plan carries to the scheduler and executors (the codec parses it again there).
#[derive(Debug)]
pub struct DevicesTable {
    description: String,
    table: MemTable,
}

impl DevicesTable {
    /// The devices of `description`, a plant.toml's text; none for an empty text.
    pub fn parse(description: &str) -> std::result::Result<DevicesTable, pvflow_plant::PlantError> {
        let plant = if description.trim().is_empty() {
            None
        } else {
            Some(Plant::parse(description)?)
        };
        Ok(DevicesTable {
            description: description.to_string(),
            table: memory_table(plant.as_ref()),
        })
    }

    /// The description's text, empty for none.
    pub fn description(&self) -> &str {
        &self.description
    }
}

#[async_trait]
impl TableProvider for DevicesTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.table.supports_filters_pushdown(filters)
    }
}

fn memory_table(plant: Option<&Plant>) -> MemTable {
    let batch = devices_batch(plant);
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]]);
    // One batch of the schema it was built with.
    table.unwrap_or_else(|e| unreachable!("the devices batch fits its own schema: {e}"))
}

/// A description's devices, or the empty table's columns.
fn devices_batch(plant: Option<&Plant>) -> RecordBatch {
    let devices: Vec<_> = plant.map(|p| p.devices().collect()).unwrap_or_default();
    let text = |f: &dyn Fn(&str, &pvflow_plant::ArrayType) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            devices.iter().map(|(d, t)| f(d, t)),
        ))
    };
    let number = |f: &dyn Fn(&pvflow_plant::ArrayType) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            devices.iter().map(|(_, t)| f(t)),
        ))
    };
    let count = |f: &dyn Fn(&pvflow_plant::ArrayType) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(
            devices.iter().map(|(_, t)| f(t)),
        ))
    };
    let nowhere = pvflow_plant::Site {
        name: String::new(),
        latitude: 0.0,
        longitude: 0.0,
        altitude_m: 0.0,
        time_zone: "UTC".into(),
    };
    let site = plant.map_or(&nowhere, |p| &p.site);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("device_id", text(&|d, _| d.to_string())),
        ("array_type", text(&|_, t| t.name.clone())),
        ("module", text(&|_, t| t.module.name.clone())),
        ("technology", text(&|_, t| t.module.technology.clone())),
        ("modules_per_string", count(&|t| t.modules_per_string)),
        ("strings", count(&|t| t.strings)),
        ("rated_power_w", number(&|t| t.nameplate().rated_power_w)),
        ("v_oc", number(&|t| t.nameplate().v_oc)),
        ("i_sc", number(&|t| t.nameplate().i_sc)),
        ("v_mp", number(&|t| t.nameplate().v_mp)),
        ("i_mp", number(&|t| t.nameplate().i_mp)),
        (
            "gamma_pdc_per_c",
            number(&|t| t.nameplate().gamma_pdc_per_c),
        ),
        ("tilt", number(&|t| t.tilt)),
        ("azimuth", number(&|t| t.azimuth)),
        ("mounting", text(&|_, t| t.mounting.as_str().to_string())),
        ("site", text(&|_, _| site.name.clone())),
        ("latitude", number(&|_| site.latitude)),
        ("longitude", number(&|_| site.longitude)),
        ("altitude_m", number(&|_| site.altitude_m)),
        ("time_zone", text(&|_, _| site.time_zone.clone())),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, column)| Field::new(*name, column.data_type().clone(), false))
            .collect::<Vec<_>>(),
    );
    debug_assert!(
        schema
            .fields()
            .iter()
            .all(|f| f.data_type() != &DataType::Null)
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, c)| c).collect(),
    );
    // Every column has a row per device and the field built from it.
    batch.unwrap_or_else(|e| unreachable!("the devices columns make a batch: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn analysts_join_devices_with_their_nameplates() {
        let table =
            DevicesTable::parse(include_str!("../../plant/examples/plant.toml")).expect("plant");
        let ctx = SessionContext::new();
        ctx.register_table("devices", Arc::new(table))
            .expect("registered");
        let rows = ctx
            .sql(
                "SELECT array_type, count(*) AS devices, round(sum(rated_power_w)) AS watts \
                 FROM devices GROUP BY array_type ORDER BY array_type",
            )
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let printed = datafusion::arrow::util::pretty::pretty_format_batches(&rows)
            .expect("prints")
            .to_string();
        let cells: Vec<Vec<&str>> = printed
            .lines()
            .filter(|l| l.starts_with('|'))
            .skip(1)
            .map(|l| {
                l.split('|')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(
            cells,
            [
                ["carport-550", "1", "19800.0"],
                ["field-first-solar", "2", "6233.0"],
                ["rooftop-cs6p", "200", "749490.0"],
            ],
            "{printed}"
        );
    }
}
