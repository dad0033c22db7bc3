//! `devices`: the configured plant description (`[plant] description`, a `plant.toml`) as a
//! table of every session, one row per device with its array's nameplate and its site, so that
//! analysts join diagnoses with nameplates.

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use pvflow_plant::Plant;
use std::sync::Arc;

/// The table of `plant`'s devices.
pub fn devices_table(plant: &Plant) -> datafusion::common::Result<Arc<dyn TableProvider>> {
    let batch = devices_batch(plant)?;
    Ok(Arc::new(MemTable::try_new(
        batch.schema(),
        vec![vec![batch]],
    )?))
}

fn devices_batch(plant: &Plant) -> datafusion::common::Result<RecordBatch> {
    let devices: Vec<_> = plant.devices().collect();
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
    let site = &plant.site;
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
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, c)| c).collect(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn analysts_join_devices_with_their_nameplates() {
        let plant = Plant::parse(include_str!("../../plant/examples/plant.toml")).expect("plant");
        let ctx = SessionContext::new();
        ctx.register_table("devices", devices_table(&plant).expect("table"))
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
