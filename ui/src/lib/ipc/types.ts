// Shapes that cross the IPC edge, generated from the Rust types into ./bindings.ts (committed;
// `cargo test -p berth-app` fails when it drifts, `./x bindings` rewrites it). This file only
// gives the UI's names to the generated ones.

import type { Progress, Reachability, Reason, SshOptions, Step, Value } from "./bindings";

export type {
  AppPlan,
  AppRow,
  AppStatus,
  ComposeService,
  Failure,
  HistoryEntry,
  PlannedReplica,
  RejectedHost,
  Removed,
  ReplicaStatus,
  RevisionRow,
  RolloutOutcome,
  RolloutProgress,
  StepState,
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

/** Why a host got no replica of an app (the UI words it in its language). */
export type PlacementReason = Reason;
/** A step of one replica in a rollout (lease, create, upload, start, health, …). */
export type RolloutStep = Step;
/** One replica's step started, done or failed, as `apps://progress` carries it. */
export type ReplicaProgress = Progress;

/** How a shell session ended: its process's exit, or a failure to read it. */
export type ShellEnd = { ended: import("./bindings").ExecEnd } | { failed: string };
/** What a shell session sends: output bytes, then once its end. */
export type ShellMessage = ArrayBuffer | ShellEnd;
