// Shapes that cross the IPC edge, generated from the Rust types into ./bindings.ts (committed;
// `cargo test -p berth-app` fails when it drifts, `./x bindings` rewrites it). This file only
// gives the UI's names to the generated ones.

import type { Reachability, SshOptions, Value } from "./bindings";

export type {
  AddressRow,
  AddressState,
  AuditObject,
  AuditQuery,
  AuditRow,
  Outcome,
  Via,
  CheckReport,
  Finding,
  FindingKind,
  NetReport,
  PoolSummary,
  Repair,
  RunOutcome,
  RunSpec,
  ContainerAction,
  ContainerDetail,
  ContainerRow,
  ContainersPatch,
  EventRow,
  ExecEnd,
  ExecSpec,
  HostKeyCheck,
  HostKeyVerdict,
  HostKind,
  HostSpec,
  HostSummary,
  ImageAcross,
  ImageRemoved,
  ImageRow,
  LayerProgress,
  NetworkRow,
  NetworkUser,
  ObjectsChanged,
  Pruned,
  Transfer,
  TransferError,
  TransferKind,
  TransferState,
  VolumeRow,
  LogEvent,
  LogSpec,
  SavedLog,
  ShellInfo,
  TestResult,
  TlsFiles,
  UiStep,
} from "./bindings";

/** A JSON value as it crosses the edge (an audit row's `before`/`after`). */
export type JsonValue = Value;

/** Maps come out of Rust as index signatures; read them with `??` / Object.entries. */
export type StringMap = { [key in string]: string };
export type CountMap = { [key in string]: number };

/** Live state of a host: `never` = added but never reached; `connecting` = its follower is dialling. */
export type LinkState = Reachability;
export type SshSettings = SshOptions;

/** How a shell session ended: its process's exit, or a failure to read it. */
export type ShellEnd = { ended: import("./bindings").ExecEnd } | { failed: string };
/** What a shell session sends: output bytes, then once its end. */
export type ShellMessage = ArrayBuffer | ShellEnd;
