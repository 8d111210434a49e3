//! Apps (issue 13, in progress): a base image, an app package and per-environment config, placed
//! on hosts by resources and free addresses. So far: the app file ([`spec`]); placement is the
//! pure [`crate::placement`]. Revisions, plans and rollouts come next.

pub mod spec;
