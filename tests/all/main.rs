//! End-to-end tests: each starts the real `azemu` binary on a free port with
//! its own data dir and drives it over HTTPS with real clients (the az CLI,
//! the Azure SDK for Python, the typed client, raw HTTP).
//!
//! The az CLI and the Python SDK come from the venv `scripts/test` creates
//! (`target/venv`, or `$AZEMU_VENV`).

mod az;
mod harness;

mod aci;
mod aci_engine;
mod aci_front_end;
mod aci_identity;
mod aci_volumes;
mod acr;
mod acr_metadata;
mod acr_task_engine;
mod acr_tasks;
mod adversarial;
mod arm_auth;
mod arm_resources;
mod atomic_state;
mod az_cli;
mod client_flows;
mod console;
mod container_image;
mod control_api;
mod deployments;
mod docker;
mod doctor;
mod entra;
mod fidelity;
mod first_run;
mod flat_cost;
mod hardening_data;
mod hardening_rbac;
mod hardening_templates;
mod hostile;
mod identity_block;
mod identity_rbac;
mod library;
mod lifecycle;
mod network;
mod oci_clients;
mod oci_conformance;
mod python_sdk;
mod readme;
mod route_authz;
mod scenarios;
mod scheduler;
mod spec_examples;
mod surface_acr;
mod surface_arm;
mod surface_network;
mod surface_ops;
mod surface_resources;
