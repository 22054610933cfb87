# NixOS module: the ccci config file and the reaper timer.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.ccci;
  json = pkgs.formats.json { };
  configFile = json.generate "ccci-config.json" cfg.settings;
in
{
  options.services.ccci = {
    enable = lib.mkEnableOption "ccci, continuous integration for Co-op Cloud recipes";

    package = lib.mkOption {
      type = lib.types.package;
      description = "The ccci package (all ccci-* tools).";
    };

    settings = lib.mkOption {
      description = "Contents of /etc/ccci/config.json (see the README's Configuration table).";
      default = { };
      type = lib.types.submodule {
        freeformType = json.type;
        options = {
          state_dir = lib.mkOption {
            type = lib.types.str;
            default = "/var/lib/ccci";
            description = "Where runs, canonical state, ledgers and locks live.";
          };
          base_domain = lib.mkOption {
            type = lib.types.str;
            example = "ci.example.org";
            description = "Per-run app domains are <name>.<base_domain>.";
          };
          recipes_dir = lib.mkOption {
            type = lib.types.str;
            default = "${cfg.package}/share/ccci/recipes";
            defaultText = lib.literalExpression ''"''${cfg.package}/share/ccci/recipes"'';
            description = "Per-recipe settings and test suites.";
          };
          max_parallel_runs = lib.mkOption {
            type = lib.types.ints.positive;
            default = 1;
            description = "How many runs may deploy at once on this host.";
          };
        };
      };
    };

    reaper.interval = lib.mkOption {
      type = lib.types.str;
      default = "10min";
      description = "How often dead runs are reaped (systemd time span).";
    };
  };

  config = lib.mkIf cfg.enable {
    # ccci drives the local engine, which must be a swarm manager
    # (`docker swarm init` once by hand: it is a cluster decision, not a package one).
    virtualisation.docker.enable = true;

    environment.systemPackages = [ cfg.package ];
    environment.etc."ccci/config.json".source = configFile;

    systemd.services.ccci-reap = {
      description = "ccci: tear down leftovers of CI runs that died";
      after = [ "docker.service" ];
      wants = [ "docker.service" ];
      restartIfChanged = false;
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${lib.getExe' cfg.package "ccci-deploy"} reap --grace 900";
        StateDirectory = "ccci";
        SuccessExitStatus = "75";
        UMask = "0077";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ReadWritePaths = [ cfg.settings.state_dir ];
        ProtectHome = true;
        PrivateTmp = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectControlGroups = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
        ];
        SystemCallArchitectures = "native";
      };
    };

    # One unit per run: `systemctl start ccci-run@<run-id>` after writing
    # /var/lib/ccci/requests/<run-id>.env. Its stop path always tears down.
    systemd.services."ccci-run@" = {
      description = "ccci: CI run %i";
      after = [ "docker.service" ];
      wants = [ "docker.service" ];
      restartIfChanged = false;
      serviceConfig = {
        Type = "exec";
        EnvironmentFile = "${cfg.settings.state_dir}/requests/%i.env";
        ExecStart = "${lib.getExe' cfg.package "ccci-run"} --run-id %i";
        KillMode = "mixed";
        TimeoutStopSec = 300;
        ExecStopPost = "-${lib.getExe' cfg.package "ccci-deploy"} teardown %i";
        SuccessExitStatus = "1";
        StateDirectory = "ccci";
        UMask = "0077";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ReadWritePaths = [ cfg.settings.state_dir ];
        ProtectHome = true;
        PrivateTmp = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectControlGroups = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
        ];
        SystemCallArchitectures = "native";
      };
    };

    # The weekly sweep: decide, run cold, promote, for every enrolled recipe.
    systemd.services.ccci-sweep = {
      description = "ccci: weekly sweep of enrolled recipes";
      after = [
        "docker.service"
        "network-online.target"
      ];
      wants = [
        "docker.service"
        "network-online.target"
      ];
      restartIfChanged = false;
      serviceConfig = {
        Type = "oneshot";
        ExecStart = lib.getExe' cfg.package "ccci-sweep";
        StateDirectory = "ccci";
        TimeoutStartSec = "infinity";
        TimeoutStopSec = 300;
        UMask = "0077";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ReadWritePaths = [ cfg.settings.state_dir ];
        ProtectHome = true;
        PrivateTmp = true;
      };
    };
    systemd.timers.ccci-sweep = {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = "Sun *-*-* 03:00:00";
        Persistent = true;
        RandomizedDelaySec = "10min";
      };
    };

    systemd.timers.ccci-reap = {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "2min";
        OnUnitActiveSec = cfg.reaper.interval;
        AccuracySec = "1min";
      };
    };
  };
}
