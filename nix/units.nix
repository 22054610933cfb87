# Every systemd unit of ccci, in one place.
#
# nix/module.nix sets systemd.services / systemd.timers from this, and
# nix/render-units.nix renders the same attribute sets (with the module
# evaluated for a plain Linux host: tools in /usr/bin, state in /var/lib/ccci) into
# the files in systemd/; scripts/check-nix.sh fails when those files differ from
# the rendering. `comments` are written above the directive they name, in the
# rendered files only.
#
# Every unit runs as root: ccci drives the Docker socket, and access to it is
# root-equivalent (whoever can start a container can mount / into it). The
# sandbox below limits what ccci's own processes do by accident; it is no
# boundary against a malicious recipe or tool. What each unit needs:
# - reap: the Docker socket and the state dir; no capabilities.
# - run@, sweep, and the bridge when it starts runs itself (launcher direct):
#   the state dir, and Docker's volumes (backup markers, `restic restore` and
#   `--quick` copies write the volumes' host paths, owned by the containers'
#   users: hence CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
#   CAP_FSETID, and CAP_SYS_PTRACE to read /proc/<pid>/fd of a container's
#   processes, which ccci-verify-backup does to tell a live volume).
# - the bridge with launcher systemd: the state dir and the systemd manager's
#   private socket (`systemctl start ccci-run@...`).
{
  lib,
  # name -> absolute path of a ccci tool
  exe,
  # where the package keeps README.md and docs/
  docDir,
  # settings.state_dir, and its name under /var/lib for StateDirectory= (or null)
  stateDir,
  stateDirectory,
  # ReadWritePaths= of the units that deploy, beside the state dir
  deployPaths,
  # ReadWritePaths= of every unit, beside the state dir
  extraPaths,
  # credential name -> file, for LoadCredential= (null: not loaded)
  credentials,
  # Environment= of the units that sync mirrors and report
  environment,
  runtimeMaxSec,
  reaperInterval,
  reaperGrace,
  sweepDates,
  # does the bridge start runs as its own children (launcher direct)?
  bridgeRunsDirect,
  # CAP_NET_BIND_SERVICE for a listener on a port below 1024
  bridgeBindsLowPort,
}:
let
  inherit (lib) optional optionalAttrs;

  # LoadCredential= of the named credentials that are configured.
  loadCredentials =
    names:
    let
      given = lib.concatMap (
        n: optional (credentials.${n} or null != null) "${n}:${credentials.${n}}"
      ) names;
    in
    optionalAttrs (given != [ ]) { LoadCredential = given; };

  # What every ccci unit shares.
  base = paths: {
    UMask = "0077";
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ReadWritePaths = [ stateDir ] ++ extraPaths ++ paths;
    # read-only, not yes: the docker CLI's contexts and registry logins
    # (~/.docker) and the ssh keys and known hosts of ssh:// repositories are
    # root's, in /root.
    ProtectHome = "read-only";
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateMounts = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" ];
    SystemCallErrorNumber = "EPERM";
  }
  // optionalAttrs (stateDirectory != null) { StateDirectory = stateDirectory; };

  # The units that deploy apps and touch their data.
  deploying = base deployPaths // {
    CapabilityBoundingSet = [
      "CAP_CHOWN"
      "CAP_DAC_OVERRIDE"
      "CAP_DAC_READ_SEARCH"
      "CAP_FOWNER"
      "CAP_FSETID"
      "CAP_SYS_PTRACE"
    ];
  };

  deployingComments = {
    ReadWritePaths = "The state dir, and Docker's volumes: backup markers, restic restore and --quick copies write the volumes' host paths. And the top of Docker's root (/var): restic restore --target / also sets the times of the volumes' parent directories and fails on a read-only one (until ccci-verify-backup restores each volume path by itself).";
    CapabilityBoundingSet = "Root, but only what writing other users' files in volumes needs, and CAP_SYS_PTRACE to read /proc/<pid>/fd of a container's processes (a live volume).";
    NoNewPrivileges = "The Docker socket is root-equivalent: this sandbox keeps ccci's own processes in bounds, it is no boundary against what they deploy.";
  };

  preflight = "${exe "ccci-config"} preflight";

  dockerDeps = {
    after = [
      "docker.service"
      "network-online.target"
    ];
    wants = [
      "docker.service"
      "network-online.target"
    ];
  };
in
{
  services = {
    ccci-reap = {
      description = "ccci: tear down leftovers of CI runs that died";
      documentation = [
        "man:ccci-deploy(1)"
        "file://${docDir}/README.md"
      ];
      after = [ "docker.service" ];
      wants = [ "docker.service" ];
      unitConfig = {
        # Exit 75 is retried (below) within these limits; a reaper that keeps
        # failing ends up a failed unit (systemctl --failed), never silent.
        StartLimitIntervalSec = "30min";
        StartLimitBurst = 10;
      };
      serviceConfig = base [ ] // {
        Type = "oneshot";
        ExecStart = "${exe "ccci-deploy"} reap --grace ${toString reaperGrace}";
        Restart = "on-failure";
        RestartSec = "1min";
        RestartPreventExitStatus = 2;
        CapabilityBoundingSet = [ "" ];
        ProtectProc = "invisible";
        ProcSubset = "pid";
        MemoryDenyWriteExecute = true;
        RemoveIPC = true;
      };
      comments = {
        ExecStart = "Runs older than the grace period whose lock no process holds are dead: their runner was killed (SIGKILL, OOM, reboot) before it could tear down.";
        Restart = "Exit 75 (Docker unreachable, a lock busy) is temporary: retried a minute later, and counted against StartLimitBurst so that trouble that lasts fails the unit. Exit 2 (a corrupt canonical file) cannot be fixed by retrying.";
        NoNewPrivileges = "The reaper talks to the Docker socket, which is root-equivalent; it needs no capability of its own.";
      };
    };

    "ccci-run@" = dockerDeps // {
      description = "ccci: CI run %i";
      documentation = [
        "man:ccci-run(1)"
        "file://${docDir}/README.md"
      ];
      serviceConfig = deploying // {
        Type = "notify";
        NotifyAccess = "main";
        EnvironmentFile = "${stateDir}/requests/%i.env";
        ExecStartPre = preflight;
        ExecStart = "${exe "ccci-run"} --run-id %i";
        TimeoutStartSec = "15min";
        RuntimeMaxSec = runtimeMaxSec;
        KillMode = "mixed";
        TimeoutStopSec = 300;
        ExecStopPost = "-${exe "ccci-deploy"} teardown %i";
        SuccessExitStatus = 1;
      }
      // loadCredentials [ "gitea-token" ];
      environment = environment;
      comments = deployingComments // {
        Type = "READY=1 once the run is planned, STATUS=tier <name> since <time> at each tier (systemctl status ccci-run@<id>).";
        EnvironmentFile = "Whoever starts a run (the bridge, an operator) writes its request first: CCCI_RUN_RECIPE, CCCI_RUN_REPO, CCCI_RUN_REF and optionally CCCI_RUN_PR and CCCI_RUN_TRIGGER, one per line.";
        ExecStartPre = "The swarm preflight: one line saying what to run when this engine is not a swarm manager, live-restore is on or the probe image is missing.";
        TimeoutStartSec = "The plan (a clone of the recipe) comes before READY=1. A run waiting for its recipe, a run slot or the host's budget extends it every 10 s (EXTEND_TIMEOUT_USEC) and says why in its status.";
        RuntimeMaxSec = "A backstop above the sum of the per-step timeouts of a large recipe, so that a stuck run frees its run slot the same day; SIGTERM then tears the run down.";
        KillMode = "The stop path always tears down. SIGTERM goes to the runner alone, which stops its current step, tears down and exits 75; whatever is still running after TimeoutStopSec is killed, and then the teardown below runs anyway (a no-op when the runner already cleaned up; the reaper is the last resort).";
        SuccessExitStatus = "A red run is a normal outcome of CI; a failed unit means ccci itself or the machine is in trouble (2 bad request, 75 Docker unreachable, 70 a bug).";
        LoadCredential = "ccci-report comments on the pull request with the Gitea token.";
      };
    };

    ccci-sweep = dockerDeps // {
      description = "ccci: weekly sweep of enrolled recipes (decide, run cold, promote)";
      documentation = [
        "man:ccci-sweep(1)"
        "file://${docDir}/README.md"
      ];
      serviceConfig = deploying // {
        Type = "oneshot";
        ExecStartPre = preflight;
        ExecStart = exe "ccci-sweep";
        TimeoutStartSec = "infinity";
        TimeoutStopSec = 300;
      }
      // loadCredentials [ "gitea-token" ];
      environment = environment;
      comments = deployingComments // {
        ExecStart = "For each enrolled recipe: sync its mirror, decide from versions, run the newest release tag cold, promote when green. One recipe's failure never stops the others; the summary goes to <state>/sweeps/.";
        ExecStartPre = "The swarm preflight: one line saying what to run when this engine is not a swarm manager, live-restore is on or the probe image is missing.";
        TimeoutStartSec = "Runs take as long as recipes take. A stop sends SIGTERM to every process: the running ccci-run tears its run down, then exits 75.";
        LoadCredential = "ccci-mirror-sync closes redundant pull requests, ccci-report comments, with the Gitea token.";
      };
    };

    ccci-bridge = {
      description = "ccci: the !testme bridge (pull request comments to queued runs)";
      documentation = [
        "man:ccci-bridge(1)"
        "file://${docDir}/docs/bridge.md"
      ];
      after = [ "network-online.target" ] ++ optional bridgeRunsDirect "docker.service";
      wants = [ "network-online.target" ] ++ optional bridgeRunsDirect "docker.service";
      serviceConfig =
        (if bridgeRunsDirect then deploying else base [ ])
        // {
          Type = "notify";
          NotifyAccess = "main";
          ExecStart = "${exe "ccci-bridge"} serve";
          WatchdogSec = 120;
          Restart = "on-failure";
          RestartSec = 10;
          RestartPreventExitStatus = 2;
          TimeoutStopSec = 300;
        }
        // loadCredentials [
          "gitea-token"
          "webhook-secret"
        ]
        // optionalAttrs (!bridgeRunsDirect) {
          CapabilityBoundingSet = if bridgeBindsLowPort then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
        };
      comments =
        (if bridgeRunsDirect then deployingComments else { })
        // {
          Type = "READY once the ledgers and queue are read; WATCHDOG=1 from the main loop and after every request to Gitea, so only a really stuck loop is restarted.";
          RestartPreventExitStatus = "Exit 2 is a corrupt ledger or bad configuration: restarting cannot fix it.";
          LoadCredential = "The token and the webhook secret as credentials, never on the command line.";
          TimeoutStopSec = "SIGTERM stops the loop between steps; runs it started itself (launcher direct) are asked to tear down first, so give them time.";
        }
        // optionalAttrs (!bridgeRunsDirect) {
          CapabilityBoundingSet = "Runs are started as ccci-run@ units (launcher systemd, through the manager's private socket): the bridge itself touches only the state dir.";
        };
    };
  };

  timers = {
    ccci-reap = {
      description = "ccci: reap dead CI runs every ${reaperInterval}";
      documentation = [ "file://${docDir}/README.md" ];
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "2min";
        OnUnitActiveSec = reaperInterval;
        AccuracySec = "1min";
      };
      comments = { };
    };
    ccci-sweep = {
      description = "ccci: weekly sweep of enrolled recipes";
      documentation = [ "file://${docDir}/README.md" ];
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = sweepDates;
        Persistent = true;
        RandomizedDelaySec = "10min";
      };
      comments = {
        Persistent = "A sweep missed while the machine was down runs at the next boot.";
      };
    };
  };
}
