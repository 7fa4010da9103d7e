// The library face of openstack-recovery (package.json `main`): what another Pulumi program uses
// after `npm install openstack-recovery-<version>.tgz`. The stack program of this repository
// (stacks/index.ts, Pulumi.yaml `main`) is built from the same pieces.
//
//   import { VolumeBackedRecovery } from "openstack-recovery";
//
// The dynamic resources below serialize only providers/stub.ts into state; their implementation is
// loaded at call time from the installed package (see README "Upgrades and the state contract").

// the recipes: the whole runbook as one ComponentResource each
export { VolumeBackedRecovery, bootsReplacement, volumeBackedRecipe, type VolumeBackedArgs } from "./recipes/volumeBacked";
export { EphemeralRecovery, ephemeralRecipe, type EphemeralArgs } from "./recipes/ephemeral";

// the recipe contract and the registry the stack program chooses from
export { defineRecipe, type Recipe, type RecipeDefinition, type ServerFacts, type BuiltRecipe } from "./recipes/recipe";
export { RECIPES } from "./recipes/registry";

// the steps, one dynamic resource each
export { IncidentLock, type IncidentLockArgs } from "./providers/incidentLock";
export { LeftoverSweep, type LeftoverSweepArgs } from "./providers/leftoverSweep";
export { VolumeClone, type VolumeCloneArgs } from "./providers/volumeClone";
export { HelperAttachment, type HelperAttachmentArgs } from "./providers/helperAttachment";
export { DiskRepair, type DiskRepairArgs } from "./providers/diskRepair";
export { ReservedPort, type ReservedPortArgs } from "./providers/reservedPort";
export { ReplacementServer, type ReplacementServerArgs } from "./providers/replacementServer";
export { BootProof, type BootProofArgs } from "./providers/bootProof";
export { ImageUpload, type ImageUploadArgs } from "./providers/imageUpload";
export { EphemeralDiskCopy, type EphemeralDiskCopyArgs } from "./providers/ephemeralDiskCopy";
export { DiskFlatten, type DiskFlattenArgs } from "./providers/diskFlatten";
export { ServerSnapshot, type ServerSnapshotArgs } from "./providers/serverSnapshot";
export { StepProvider, type StepImplementation, type StepEnvironment } from "./providers/stub";

// the repair toolkit (bash scripts shipped beside its compiled module)
export {
    REPAIR_ACTIONS,
    buildRepairScript,
    parseRepairReport,
    type RepairAction,
    type RepairReport,
    type RepairScriptOptions,
} from "./toolkit";

// the stack program's pieces: config (`openstack-recovery:` namespace), the read-only look at the
// incident, and the program itself (a consumer's program can be `export = recoveryProgram`)
export { parseConfig, parseCommon, ConfigError, type RecoveryConfig } from "./stacks/config";
export { discover, chooseRecipe } from "./stacks/discover";
export { main as recoveryProgram } from "./stacks/program";
export { connect } from "./clients/openstack";
