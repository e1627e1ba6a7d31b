import type { CommandSpec } from '../cli/command.js';
import apply from './apply.js';
import claimTokensCreate from './claim-tokens-create.js';
import claimTokensLs from './claim-tokens-ls.js';
import claimTokensRevoke from './claim-tokens-revoke.js';
import deploy from './deploy.js';
import devicesLogs from './devices-logs.js';
import devicesLs from './devices-ls.js';
import devicesReboot from './devices-reboot.js';
import devicesShow from './devices-show.js';
import devicesTag from './devices-tag.js';
import envLs from './env-ls.js';
import envSet from './env-set.js';
import envUnset from './env-unset.js';
import fleetsCreate from './fleets-create.js';
import fleetsLs from './fleets-ls.js';
import imageBuild from './image-build.js';
import imageFlash from './image-flash.js';
import keysCreate from './keys-create.js';
import keysLs from './keys-ls.js';
import login from './login.js';
import releaseCreate from './release-create.js';
import releasesLs from './releases-ls.js';
import releasesShow from './releases-show.js';
import releasesYank from './releases-yank.js';
import rolloutsAbort from './rollouts-abort.js';
import rolloutsLs from './rollouts-ls.js';
import rolloutsPause from './rollouts-pause.js';
import rolloutsResume from './rollouts-resume.js';
import rolloutsRollback from './rollouts-rollback.js';
import rolloutsShow from './rollouts-show.js';
import rolloutsWatch from './rollouts-watch.js';
import whoami from './whoami.js';

/**
 * Every hubctl command. A new command is one file in this folder plus one line here
 * (`deploy`, `rollouts ...` and `apply` arrive this way with the rollout engine, issue #6).
 */
export const COMMANDS: readonly CommandSpec[] = [
  login,
  whoami,
  fleetsLs,
  fleetsCreate,
  claimTokensCreate,
  claimTokensLs,
  claimTokensRevoke,
  devicesLs,
  devicesShow,
  devicesTag,
  devicesReboot,
  devicesLogs,
  keysCreate,
  keysLs,
  releaseCreate,
  releasesLs,
  releasesShow,
  releasesYank,
  deploy,
  rolloutsLs,
  rolloutsShow,
  rolloutsWatch,
  rolloutsPause,
  rolloutsResume,
  rolloutsAbort,
  rolloutsRollback,
  apply,
  envLs,
  envSet,
  envUnset,
  imageBuild,
  imageFlash,
] as readonly CommandSpec[];
