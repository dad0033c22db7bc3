//! Running one SQL expression through a session with pvflow's functions, for the functions'
//! tests.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float32Type;
use datafusion::prelude::SessionContext;

fn session() -> SessionContext {
    let ctx = SessionContext::new();
    for udf in crate::all_udfs(crate::Normalization::IDENTITY, None) {
        ctx.register_udf(udf);
    }
    ctx
}

/// What `SELECT expression` gives.
async fn select(expression: &str) -> datafusion::common::Result<Vec<RecordBatch>> {
    session()
        .sql(&format!("SELECT {expression}"))
        .await?
        .collect()
        .await
}

/// The Float32 value of `expression`.
pub(crate) async fn scalar_f32(expression: &str) -> Option<f32> {
    let batches = select(expression).await.expect("query");
    let column = batches[0].column(0).as_primitive::<Float32Type>();
    column.is_valid(0).then(|| column.value(0))
}

/// The error `expression` fails with.
pub(crate) async fn sql_error(expression: &str) -> String {
    match select(expression).await {
        Ok(_) => panic!("{expression} did not fail"),
        Err(e) => e.to_string(),
    }
}

/// The list of booleans `expression` gives (NULL: None).
pub(crate) async fn bool_mask(expression: &str) -> Option<Vec<bool>> {
    let batches = select(expression).await.expect("query");
    let lists = batches[0].column(0).as_list::<i32>();
    lists.is_valid(0).then(|| {
        let mask = lists.value(0);
        mask.as_boolean().iter().map(|b| b == Some(true)).collect()
    })
}

/// The list of strings `expression` gives (NULL: None).
pub(crate) async fn string_list(expression: &str) -> Option<Vec<String>> {
    let batches = select(expression).await.expect("query");
    let lists = batches[0].column(0).as_list::<i32>();
    lists.is_valid(0).then(|| {
        let values = lists.value(0);
        values
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect()
    })
}
