//! `app.json` and the names of an app: the types live in `ccci_core::app`,
//! shared by every tool that reads what this one writes.

pub use ccci_core::app::*;

/// Docker labels ccci puts on everything it creates (named in core).
pub use ccci_core::labels::{
    INSTANCE as LABEL_INSTANCE, NAMESPACE as LABEL_NAMESPACE, RUN as LABEL_RUN,
};
