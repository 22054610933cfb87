# Tests of nix/module.nix and nix/package.nix, evaluated with the Nix library
# alone (nix/tests/stubs.nix fakes NixOS and nixpkgs):
#
#   nix-instantiate --eval --strict --json nix/tests/eval.nix \
#     --arg lib 'import ../shared/vendor/nixpkgs-lib/lib'
#
# Each check is a name and a boolean; the result lists the checks that passed,
# or evaluation fails naming the ones that did not. `--arg report true` gives
# every check's outcome instead (pass, FAIL, or error when it cannot even be
# evaluated), e.g. for an older module: `--arg module ./old-module.nix`.
{
  lib,
  module ? ../module.nix,
  report ? false,
}:
let
  stubs = import ./stubs.nix {
    inherit lib;
    moduleUnderTest = module;
    extraModule = if module == ../module.nix then { } else before;
  };

  # For an older module (report mode): its package had no default, and the
  # options it lacks are accepted and ignored, so that each check evaluates
  # against what the older module does with the same configuration.
  before = {
    options.services.ccci =
      lib.genAttrs [
        "probeImage"
        "maxParallelRuns"
        "minFreeDiskMb"
        "budgetMemoryMb"
        "budgetDiskMb"
        "runMaxRuntime"
        "gitea"
        "bridge"
        "recipes"
        "sweep"
        "extraReadWritePaths"
        "extraPackages"
        "checkConfig"
      ] (_: lib.mkSinkUndeclaredOptions { })
      // {
        reaper.enable = lib.mkSinkUndeclaredOptions { };
        reaper.grace = lib.mkSinkUndeclaredOptions { };
      };
    config.services.ccci.package = lib.mkOverride 1400 stubs.pkgs.ccci;
  };
  inherit (stubs) eval;

  # ---- the configurations ----------------------------------------------------

  forms = import ./forms.nix { inherit stubs; };
  default = eval forms.default;
  full = eval forms.full;

  # ---- helpers ---------------------------------------------------------------

  failing = e: map (a: a.message) (lib.filter (a: !a.assertion) e.config.assertions);
  fires =
    pattern: e:
    let
      f = failing e;
    in
    f != [ ] && lib.all (m: builtins.match ".*${pattern}.*" m != null) f;
  # Does evaluating `x` fail (a type error, an unknown option)?
  refused = x: !(builtins.tryEval (builtins.deepSeq x x)).success;

  services = e: e.config.systemd.services;
  timers = e: e.config.systemd.timers;
  sc = e: name: ((services e).${name} or { }).serviceConfig or { };
  settingsOf = e: e.config.environment.etc."ccci/config.json".source.settings or { };
  configBuild = e: e.config.environment.etc."ccci/config.json".source.buildCommand or "";
  timerOf = e: name: key: (((timers e).${name} or { }).timerConfig or { }).${key} or null;
  has = xs: x: builtins.elem x xs;
  rw = e: name: lib.toList ((sc e name).ReadWritePaths or [ ]);

  # Directives every unit of ccci carries (the sweep once lacked seven the
  # file in systemd/ had, since the module copied the units by hand).
  hardening = [
    "UMask"
    "NoNewPrivileges"
    "ProtectSystem"
    "ReadWritePaths"
    "ProtectHome"
    "PrivateTmp"
    "PrivateDevices"
    "PrivateMounts"
    "ProtectKernelTunables"
    "ProtectKernelModules"
    "ProtectKernelLogs"
    "ProtectControlGroups"
    "ProtectClock"
    "ProtectHostname"
    "RestrictNamespaces"
    "RestrictRealtime"
    "RestrictSUIDSGID"
    "LockPersonality"
    "RestrictAddressFamilies"
    "SystemCallArchitectures"
    "SystemCallFilter"
    "CapabilityBoundingSet"
  ];
  allServices = [
    "ccci-reap"
    "ccci-run@"
    "ccci-sweep"
    "ccci-bridge"
  ];

  # The module's generated recipes directory (read-only option recipesDir): its
  # recipe.json contents ride along as passthru, its build script is the fake's.
  recipesBuild =
    e:
    e.config.services.ccci.recipesDir or {
      recipes = null;
      buildCommand = "";
      outPath = "none";
    };

  pkgArgs = lib.mapAttrs (n: _: stubs.derivation n { }) (builtins.functionArgs (import ../package.nix));
  package = import ../package.nix (
    pkgArgs
    // {
      inherit lib;
      rustPlatform.buildRustPackage = a: a;
    }
  );
  runtimeLines = lib.filter (l: l != "" && !(lib.hasPrefix "#" l)) (
    lib.splitString "\n" (builtins.readFile ../runtime-inputs.txt)
  );
  wrapperAttrs = lib.unique (
    lib.concatMap (
      l:
      let
        w = lib.filter (x: x != "") (lib.splitString " " l);
      in
      lib.optional (builtins.head w == "wrapper") (builtins.elemAt w 1)
    ) runtimeLines
  );

  checks = {
    # --- the default form: what a host gets with only the required options ---
    default-has-no-failing-assertion = failing default == [ ];
    default-has-no-warning = default.config.warnings == [ ];
    default-units = lib.sort lib.lessThan (builtins.attrNames (services default)) == [
      "ccci-reap"
      "ccci-run@"
      "ccci-sweep"
    ];
    default-timers = builtins.attrNames (timers default) == [
      "ccci-reap"
      "ccci-sweep"
    ];
    # Defect: the probe image defaulted to the test rig's registry.
    default-probe-image-is-the-configured-one =
      (settingsOf default).probe_image or null == "registry.example.org/ccci/busybox:1.36";
    # Defect: the packaged demo was enrolled without a repository; now a
    # recipe is in the recipes dir only when configured.
    default-enrols-no-recipe =
      default.config.services.ccci.recipes == { } && (recipesBuild default).recipes == { };
    default-recipes-dir-links-only-generic =
      builtins.match ".*_generic.*" (recipesBuild default).buildCommand != null
      && builtins.match ".*mkdir \\$out/[a-z].*" (recipesBuild default).buildCommand == null;
    default-config-points-at-generated-recipes =
      (settingsOf default).recipes_dir or null == "${recipesBuild default}";
    # Defect: settings were freeform and unchecked; now the file is checked by
    # ccci-config at build time.
    default-config-checked-by-ccci-config =
      builtins.match ".*/bin/ccci-config check ${builtins.storeDir}/[^ ]*-ccci-config-unchecked.json.*" (configBuild default)
      != null;
    default-sweep-calendar-checked =
      builtins.match ".*systemd-analyze calendar 'Sun \\*-\\*-\\* 03:00:00'.*" (configBuild default)
      != null;
    default-config-keys =
      builtins.attrNames (settingsOf default) == [
        "base_domain"
        "bridge"
        "budget_disk_mb"
        "budget_memory_mb"
        "docker_context"
        "max_parallel_runs"
        "min_free_disk_mb"
        "probe_image"
        "recipes_dir"
        "state_dir"
      ];
    default-launcher-is-systemd = ((settingsOf default).bridge or { }).launcher or null == "systemd";
    # Defect: live-restore was left to nixpkgs (on for older stateVersions).
    default-live-restore-off =
      !default.config.virtualisation.docker.liveRestore
      && default.config.virtualisation.docker.daemon.settings.live-restore or null == false;
    default-docker-enabled = default.config.virtualisation.docker.enable;
    default-state-directory = lib.all (n: (sc default n).StateDirectory or null == "ccci") [
      "ccci-reap"
      "ccci-run@"
      "ccci-sweep"
    ];
    default-no-tmpfiles = default.config.systemd.tmpfiles.rules == [ ];
    # Defect: the sweep unit lacked seven hardening directives.
    every-unit-has-every-hardening-directive = lib.all (
      e:
      lib.all (n: lib.all (k: (sc e n) ? ${k}) hardening) (
        lib.filter (n: (services e) ? ${n}) allServices
      )
    ) [
      default
      full
    ];
    # Defect: ProtectSystem=strict with only the state dir writable made
    # Docker's volumes read-only.
    deploying-units-write-docker-volumes = lib.all (
      n: has (rw default n) "/var/lib/docker/volumes" && has (rw default n) "/var"
    ) [
      "ccci-run@"
      "ccci-sweep"
    ];
    reaper-writes-only-state = rw default "ccci-reap" == [ "/var/lib/ccci" ];
    # Defect: ProtectHome=yes hid the docker CLI's contexts, logins and ssh keys.
    home-is-read-only = lib.all (n: (sc full n).ProtectHome or null == "read-only") allServices;
    # Defect: the unit's swarm state was never checked.
    deploying-units-run-the-preflight = lib.all (
      n: builtins.match ".*/bin/ccci-config preflight" ((sc default n).ExecStartPre or "") != null
    ) [
      "ccci-run@"
      "ccci-sweep"
    ];
    run-is-notify-and-bounded =
      let
        s = sc default "ccci-run@";
      in
      s.Type or null == "notify"
      && s.NotifyAccess or null == "main"
      && s.RuntimeMaxSec or null == "6h"
      && s.KillMode == "mixed"
      && s.SuccessExitStatus == 1
      && lib.hasSuffix "/bin/ccci-deploy teardown %i" s.ExecStopPost
      && s.EnvironmentFile == "/var/lib/ccci/requests/%i.env";
    # Defect: exit 75 of the reaper counted as success forever.
    reaper-retries-75-and-fails-when-it-lasts =
      let
        s = sc default "ccci-reap";
        u = (services default).ccci-reap.unitConfig or { };
      in
      !(s ? SuccessExitStatus)
      && s.Restart or null == "on-failure"
      && s.RestartPreventExitStatus or null == 2
      && u.StartLimitBurst or null == 10
      && u.StartLimitIntervalSec or null == "30min";
    reaper-has-no-capabilities = (sc default "ccci-reap").CapabilityBoundingSet or null == [ "" ];
    timers-default =
      timerOf default "ccci-sweep" "OnCalendar" == "Sun *-*-* 03:00:00"
      && timerOf default "ccci-reap" "OnUnitActiveSec" == "10min"
      && (timers default).ccci-sweep.wantedBy or null == [ "timers.target" ];
    no-credential-without-token = !((sc default "ccci-sweep") ? LoadCredential);

    # --- the fully configured form ---
    full-has-no-failing-assertion = failing full == [ ];
    full-units = lib.sort lib.lessThan (builtins.attrNames (services full)) == allServices';
    full-config =
      let
        s = settingsOf full;
      in
      s.state_dir or null == "/srv/ccci"
      && s.max_parallel_runs or null == 2
      && s.gitea_url or null == "https://git.example.org/"
      && s.public_url or null == "https://ci.example.org/"
      && s.bridge.repos or null == [ "recipes/custom-html" ]
      && s.bridge.listen or null == "127.0.0.1:8087"
      && s.bridge.allow or null == [ "alice" ]
      && !(s.bridge or { } ? webhook_secret_file);
    # Defect: StateDirectory= said ccci whatever state_dir was.
    full-state-dir-everywhere = lib.all (
      n: !((sc full n) ? StateDirectory) && has (rw full n) "/srv/ccci"
    ) allServices;
    full-state-dir-created = full.config.systemd.tmpfiles.rules == [ "d /srv/ccci 0700 root root - -" ];
    full-request-file-in-state-dir = (sc full "ccci-run@").EnvironmentFile or null == "/srv/ccci/requests/%i.env";
    # Defect: CCCI_GITEA_URL and the token never reached the units.
    full-gitea-url-in-environment = lib.all (
      n: ((services full).${n} or { }).environment.CCCI_GITEA_URL or null == "https://git.example.org/"
    ) [
      "ccci-sweep"
      "ccci-run@"
    ];
    full-token-as-credential = lib.all (
      n: has (lib.toList ((sc full n).LoadCredential or [ ])) "gitea-token:/run/secrets/ccci-gitea-token"
    ) [
      "ccci-sweep"
      "ccci-run@"
      "ccci-bridge"
    ];
    full-webhook-secret-as-credential = has (lib.toList ((sc full "ccci-bridge").LoadCredential or [ ])) "webhook-secret:/run/secrets/ccci-webhook-secret";
    full-bridge =
      let
        u = (services full).ccci-bridge or { };
        s = sc full "ccci-bridge";
      in
      s.Type or null == "notify"
      && s.WatchdogSec or null == 120
      && s.Restart or null == "on-failure"
      && s.RestartPreventExitStatus or null == 2
      && lib.hasSuffix "/bin/ccci-bridge serve" (s.ExecStart or "")
      && u.wantedBy or null == [ "multi-user.target" ]
      && u.restartTriggers or [ ] != [ ]
      # launcher systemd: the bridge itself touches no volume and holds no capability
      && s.CapabilityBoundingSet or null == [ "" ]
      && !(has (rw full "ccci-bridge") "/data/docker/volumes");
    full-deploy-paths =
      let
        p = rw full "ccci-sweep";
      in
      has p "/data/docker/volumes"
      && has p "/data"
      && has p "-/srv/mirrors/custom-html.git"
      && has p "/srv/mirrors"
      && !(has p "/var/lib/docker/volumes");
    full-runtime = (sc full "ccci-run@").RuntimeMaxSec or null == "3h";
    full-timers =
      timerOf full "ccci-sweep" "OnCalendar" == "Sat *-*-* 04:30:00"
      && timerOf full "ccci-reap" "OnUnitActiveSec" == "5min";
    full-extra-packages = ((services full).ccci-sweep or { }).path or null == [ stubs.pkgs.curl ];
    full-recipes =
      (recipesBuild full).recipes == {
        custom-html = {
          schema = 1;
          enrolled = true;
          approved = false;
          repo = "/srv/mirrors/custom-html.git";
          upstream = "https://git.coopcloud.tech/coop-cloud/custom-html.git";
          gitea_repo = "recipes/custom-html";
          health = {
            kind = "http";
            service = "app";
            path = "/";
            codes = [ 200 ];
          };
          timeouts.test = 300;
          env = { };
          marker_hooks = { };
          dependencies = [ ];
        };
        keycloak = {
          schema = 1;
          enrolled = true;
          approved = false;
          repo = "https://git.example.org/recipes/keycloak.git";
          health = {
            kind = "http";
            service = "app";
            port = 8080;
            path = "/";
            codes = [ 200 ];
            start_window = 120;
          };
          timeouts = {
            deploy = 600;
            test = 300;
          };
          env.LOG_LEVEL = "debug";
          marker_hooks.db = "hooks/backup-marker";
          dependencies = [ ];
          budget.memory_mb = 1536;
        };
      };
    full-recipes-dir-builds-each-recipe =
      let
        b = (recipesBuild full).buildCommand;
      in
      builtins.match ".*mkdir \\$out/custom-html\n.*" b != null
      && builtins.match ".*mkdir \\$out/keycloak\n.*" b != null
      && builtins.match ".*/share/ccci/recipes/keycloak.*" b != null;

    # --- assertions that must fire ---
    fires-without-probe-image = fires "probeImage is not set" (eval {
      services.ccci.enable = true;
    });
    fires-with-live-restore = fires "live-restore is on" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
      };
      virtualisation.docker.liveRestore = true;
    });
    fires-with-live-restore-in-daemon-settings = fires "live-restore is on" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
      };
      virtualisation.docker.daemon.settings.live-restore = true;
    });
    fires-with-token-in-store = fires "tokenFile is in the Nix store" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
        gitea.tokenFile = "${builtins.storeDir}/00000000000000000000000000000000-token";
      };
    });
    fires-with-token-as-nix-path = fires "tokenFile is in the Nix store" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
        gitea.tokenFile = ./stubs.nix;
      };
    });
    fires-with-enrolled-recipe-without-repo = fires "is enrolled but has no repo" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
        recipes.demo = { };
      };
    });
    fires-with-gitea-repo-without-gitea = fires "gitea_repo" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
        recipes.x = {
          repo = "/srv/m/x.git";
          upstream = "https://u/x.git";
          gitea_repo = "recipes/x";
        };
      };
    });
    fires-with-bridge-without-gitea = fires "bridge needs" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
        bridge.enable = true;
      };
    });
    fires-with-listener-without-secret = fires "no webhook secret" (eval {
      services.ccci = {
        enable = true;
        probeImage = "busybox:1.36";
        settings.bridge.listen = "127.0.0.1:8087";
      };
    });

    # --- types that must refuse ---
    refuses-unknown-setting =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            settings.base_domain = "ci.example.org";
            settings.max_parallel_run = 2;
          };
        }).config.services.ccci.settings;
    refuses-unknown-bridge-setting =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            settings.base_domain = "ci.example.org";
            settings.bridge.poll_interval = 5;
          };
        }).config.services.ccci.settings;
    # Defect: reaper.interval was free text.
    refuses-bad-reaper-interval =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            reaper.interval = "every ten minutes";
          };
        }).config.services.ccci.reaper.interval;
    accepts-good-reaper-interval =
      !(refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            reaper.interval = "1h 30min";
          };
        }).config.services.ccci.reaper.interval
      );
    refuses-relative-state-dir =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            settings.state_dir = "var/lib/ccci";
          };
        }).config.services.ccci.settings.state_dir;
    min-free-disk-default-and-zero =
      (settingsOf default).min_free_disk_mb or null == 2048
      && (settingsOf (eval {
        services.ccci = {
          enable = true;
          probeImage = "busybox:1.36";
          minFreeDiskMb = 0;
        };
      })).min_free_disk_mb or null == 0;
    budget-default-and-set =
      (settingsOf default).budget_memory_mb or null == 0
      && (settingsOf default).budget_disk_mb or null == 0
      && (settingsOf (eval {
        services.ccci = {
          enable = true;
          probeImage = "busybox:1.36";
          budgetMemoryMb = 6144;
          budgetDiskMb = 40960;
        };
      })).budget_memory_mb or null == 6144;
    refuses-budget-in-bytes =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            budgetMemoryMb = 6442450944;
          };
        }).config.services.ccci.settings.budget_memory_mb;
    # A size in bytes (2 GiB) is a unit mix-up: the key is in MiB.
    refuses-min-free-disk-in-bytes =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            minFreeDiskMb = 2147483648;
          };
        }).config.services.ccci.settings.min_free_disk_mb;
    refuses-bad-launcher =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            settings.bridge.launcher = "sytemd";
          };
        }).config.services.ccci.settings.bridge.launcher;
    refuses-bad-repo-name =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            bridge.repos = [ "custom-html" ];
          };
        }).config.services.ccci.bridge.repos;
    refuses-unknown-recipe-key =
      refused
        (eval {
          services.ccci = {
            enable = true;
            probeImage = "busybox:1.36";
            recipes.x = {
              repo = "/r";
              aproved = true;
            };
          };
        }).config.services.ccci.recipes;
    disabled-module-sets-nothing =
      let
        e = eval { services.ccci.probeImage = "busybox:1.36"; };
      in
      e.config.systemd.services == { } && !e.config.virtualisation.docker.enable;

    # --- the package ---
    package-runtime-inputs-are-the-file-s = lib.sort lib.lessThan (builtins.attrNames package.passthru.runtimeInputs) == lib.sort lib.lessThan wrapperAttrs;
    package-wraps-every-runtime-input = lib.all (
      a: builtins.match ".*${pkgArgs.${a}}/bin.*" package.postInstall != null
    ) wrapperAttrs;
    package-has-tar-ssh-coreutils = lib.all (a: has wrapperAttrs a) [
      "gnutar"
      "openssh"
      "coreutils"
      "docker-client"
      "git"
      "restic"
    ];
    package-installs-no-build-tool =
      builtins.match ".*rm \\$out/bin/ccci-gen-docs \\$out/bin/ccci-fake-gitea.*" package.postInstall
      != null
      && !(has package.passthru.tools "ccci-gen-docs");
    package-installs-man-pages-and-completions =
      builtins.match ".*installManPage gen-docs/man/man1/.*installShellCompletion --bash.*--zsh.*--fish.*" package.postInstall
      != null;
    package-tools = lib.all (has package.passthru.tools) [
      "ccci-run"
      "ccci-config"
      "ccci-bridge"
      "ccci-sweep"
    ];
    package-runs-unit-tests =
      package.doCheck
      && package.cargoTestFlags == [
        "--workspace"
        "--lib"
        "--bins"
      ];
  };

  allServices' = lib.sort lib.lessThan allServices;

  failed = lib.filterAttrs (_: ok: !ok) checks;
in
if report then
  lib.mapAttrs (
    _: ok:
    let
      r = builtins.tryEval (builtins.deepSeq ok ok);
    in
    if !r.success then
      "error"
    else if r.value then
      "pass"
    else
      "FAIL"
  ) checks
else if failed == { } then
  builtins.attrNames checks
else
  throw "nix/tests/eval.nix: failing checks: ${toString (builtins.attrNames failed)}"
