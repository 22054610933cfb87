# NixOS module: ccci, continuous integration for Co-op Cloud recipes.
#
#   services.ccci = {
#     enable = true;
#     probeImage = "registry.example.org/ccci/busybox:1.36";
#     gitea = { url = "https://git.example.org/"; tokenFile = "/run/secrets/ccci-gitea-token"; };
#     bridge = { enable = true; repos = [ "recipes/custom-html" ]; };
#     recipes.custom-html = { repo = "..."; upstream = "..."; gitea_repo = "recipes/custom-html"; };
#   };
#
# It writes /etc/ccci/config.json from `settings` (typed and closed: a key ccci
# does not know is an evaluation error, and `ccci-config check` validates the
# file at build time), a recipes directory with the packaged generic tests and
# one recipe.json per enrolled recipe, and the units of nix/units.nix: the
# reaper and its timer, ccci-run@<run-id>, the sweep and its timer, the bridge.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkOption
    mkEnableOption
    mkPackageOption
    mkIf
    mkDefault
    types
    literalExpression
    ;

  cfg = config.services.ccci;
  docker = config.virtualisation.docker;

  absolutePath = types.pathWith {
    absolute = true;
    inStore = false;
  };
  # A systemd time span (systemd.time(7)): "10min", "1h 30min", "90s", "600".
  timespan = types.strMatching "^([0-9]+ *(us|usec|ms|msec|s|sec|second|seconds|m|min|minute|minutes|h|hr|hour|hours|d|day|days|w|week|weeks|M|month|months|y|year|years)? *)+$";
  ownerName = types.strMatching "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$";
  httpUrl = types.strMatching "^https?://[^[:space:]]+$";
  imageRef = types.strMatching "^[^[:space:]]+$";

  # A file given to a unit as a credential must not be in the world-readable store.
  inStore = p: builtins.isPath p || lib.hasPrefix builtins.storeDir (toString p);

  # ---- /etc/ccci/config.json -------------------------------------------------

  bridgeSettings = types.submodule {
    options = {
      repos = mkOption {
        type = types.listOf ownerName;
        default = cfg.bridge.repos;
        defaultText = literalExpression "config.services.ccci.bridge.repos";
        description = "Repositories to watch, `OWNER/NAME`.";
      };
      orgs = mkOption {
        type = types.listOf types.str;
        default = cfg.bridge.orgs;
        defaultText = literalExpression "config.services.ccci.bridge.orgs";
        description = "Organisations whose every repository is watched.";
      };
      allow = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Logins that may trigger without write permission on the repository.";
      };
      poll_interval_s = mkOption {
        type = types.ints.positive;
        default = 60;
        description = "Seconds between poll cycles.";
      };
      max_backoff_s = mkOption {
        type = types.ints.unsigned;
        default = 600;
        description = "The longest wait between cycles while Gitea is in trouble, in seconds.";
      };
      org_refresh_s = mkOption {
        type = types.ints.unsigned;
        default = 3600;
        description = "Seconds between re-reads of the organisations' repository lists.";
      };
      gitea_timeout_s = mkOption {
        type = types.ints.positive;
        default = 20;
        description = "Seconds one request to Gitea may take.";
      };
      listen = mkOption {
        type = types.nullOr (types.strMatching "^([[][0-9A-Fa-f:.]+[]]|[0-9.]+):[0-9]+$");
        default = null;
        example = "127.0.0.1:8087";
        description = "`ADDRESS:PORT` of the webhook and run-page listener (null: none).";
      };
      webhook_secret_file = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          File holding the webhooks' shared secret; relative to systemd's
          `$CREDENTIALS_DIRECTORY`. Null: the credential `webhook-secret`, which
          {option}`services.ccci.bridge.webhookSecretFile` provides.
        '';
      };
      launcher = mkOption {
        type = types.enum [
          "direct"
          "systemd"
        ];
        default = "systemd";
        description = ''
          How a queued run is started: `systemd` starts `ccci-run@<run-id>.service`
          (runs outlive a restart of the bridge; ccci's own default is `direct`, a
          child of the bridge).
        '';
      };
    };
  };

  settingsType = types.submodule {
    options = {
      state_dir = mkOption {
        type = absolutePath;
        default = "/var/lib/ccci";
        description = "Where runs, canonical state, ledgers and locks live.";
      };
      base_domain = mkOption {
        type = types.strMatching "^([A-Za-z0-9][A-Za-z0-9-]*)(\\.[A-Za-z0-9][A-Za-z0-9-]*)*$";
        default = "ci.localhost";
        example = "ci.example.org";
        description = "Per-run app domains are `<name>.<base_domain>`.";
      };
      docker_context = mkOption {
        type = types.str;
        default = "";
        description = "Docker context to talk to (empty: the docker CLI's default).";
      };
      probe_image = mkOption {
        type = types.nullOr imageRef;
        default = cfg.probeImage;
        defaultText = literalExpression "config.services.ccci.probeImage";
        description = "Image the health probe container runs (needs `wget` and `nc`).";
      };
      max_parallel_runs = mkOption {
        type = types.ints.between 1 1000;
        default = cfg.maxParallelRuns;
        defaultText = literalExpression "config.services.ccci.maxParallelRuns";
        description = "How many runs may deploy at once on this host.";
      };
      min_free_disk_mb = mkOption {
        type = types.ints.between 0 1073741824;
        default = cfg.minFreeDiskMb;
        defaultText = literalExpression "config.services.ccci.minFreeDiskMb";
        description = "MiB that must be free on Docker's data root before a deploy (0: no check).";
      };
      budget_memory_mb = mkOption {
        type = types.ints.between 0 1073741824;
        default = cfg.budgetMemoryMb;
        defaultText = literalExpression "config.services.ccci.budgetMemoryMb";
        description = "MiB of memory runs side by side may take together (0: three quarters of the host's).";
      };
      budget_disk_mb = mkOption {
        type = types.ints.between 0 1073741824;
        default = cfg.budgetDiskMb;
        defaultText = literalExpression "config.services.ccci.budgetDiskMb";
        description = "MiB of disk runs and shared apps may take together (0: what is free above min_free_disk_mb).";
      };
      recipes_dir = mkOption {
        type = types.pathWith { absolute = true; };
        default = "${recipesDir}";
        defaultText = literalExpression "the generated recipes directory (services.ccci.recipes)";
        description = "Per-recipe settings and test suites: `_generic/` and one folder per recipe.";
      };
      gitea_url = mkOption {
        type = types.nullOr httpUrl;
        default = cfg.gitea.url;
        defaultText = literalExpression "config.services.ccci.gitea.url";
        description = "The Gitea (or Forgejo) server's `ROOT_URL`.";
      };
      public_url = mkOption {
        type = types.nullOr httpUrl;
        default = null;
        example = "https://ci.example.org/";
        description = "Where `<state_dir>/www/` is served, for links in comments and statuses.";
      };
      bridge = mkOption {
        type = bridgeSettings;
        default = { };
        description = "The `!testme` bridge (docs/bridge.md).";
      };
    };
  };

  # null means "ccci's default": such keys are left out of the file.
  settingsJSON = builtins.toJSON (lib.filterAttrsRecursive (_: v: v != null) cfg.settings);
  configText = pkgs.writeText "ccci-config-unchecked.json" settingsJSON;

  # Validated at build time: the file exactly as the tools read it
  # (`ccci-config check`), and the timer settings as systemd reads them.
  configFile =
    pkgs.runCommand "ccci-config.json"
      {
        nativeBuildInputs = [ pkgs.buildPackages.systemd ];
        passthru.settings = builtins.fromJSON settingsJSON;
      }
      ''
        ${lib.optionalString cfg.checkConfig ''
          ${lib.getExe' cfg.package "ccci-config"} check ${configText}
          ${lib.optionalString cfg.sweep.enable ''
            systemd-analyze calendar ${lib.escapeShellArg cfg.sweep.dates} >/dev/null
          ''}
          ${lib.optionalString cfg.reaper.enable ''
            systemd-analyze timespan ${lib.escapeShellArg cfg.reaper.interval} >/dev/null
          ''}
          systemd-analyze timespan ${lib.escapeShellArg cfg.runMaxRuntime} >/dev/null
        ''}
        cp ${configText} $out
      '';

  # ---- recipes ---------------------------------------------------------------

  healthType = types.submodule {
    options = {
      kind = mkOption {
        type = types.enum [
          "http"
          "tcp"
          "none"
        ];
        default = "http";
        description = "How the app's health is probed.";
      };
      service = mkOption {
        type = types.str;
        default = "app";
        description = "The compose service the probe targets.";
      };
      port = mkOption {
        type = types.nullOr types.port;
        default = null;
        description = "Port; null: the service's Traefik port label.";
      };
      path = mkOption {
        type = types.str;
        default = "/";
        description = "HTTP path.";
      };
      codes = mkOption {
        type = types.listOf (types.ints.between 100 599);
        default = [ 200 ];
        description = "Accepted HTTP codes.";
      };
      start_window = mkOption {
        type = types.nullOr types.ints.unsigned;
        default = null;
        description = "Seconds from the start of a deploy during which tasks may fail and restart (null: the healthcheck's start_period, else 60).";
      };
      max_restarts = mkOption {
        type = types.nullOr types.ints.unsigned;
        default = null;
        description = "Failed tasks in a row a service may have within its start window (null: 5).";
      };
      url = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://{domain}/";
        description = "Probe from the host instead: `https://{domain}/path` or `tcp://host:port`.";
      };
    };
  };

  dependencyType = types.submodule {
    options = {
      recipe = mkOption {
        type = types.str;
        description = "The recipe deployed beside the app.";
      };
      repo = mkOption {
        type = types.str;
        description = "Its repository.";
      };
      ref = mkOption {
        type = types.str;
        description = "The ref (release tag) to deploy.";
      };
      tests = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Test ids (`<tier>/<name>`) that exercise it.";
      };
      env = mkOption {
        type = types.attrsOf types.str;
        default = { };
        description = "Extra app env of the dependency.";
      };
    };
  };

  recipeType = types.submodule (
    { name, ... }:
    {
      options = {
        enrolled = mkOption {
          type = types.bool;
          default = true;
          description = "Swept weekly and eligible to become canonical.";
        };
        approved = mkOption {
          type = types.bool;
          default = false;
          description = "Tests carried by the recipe's own pull requests (`.ccci/`) may run.";
        };
        repo = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/srv/mirrors/${name}.git";
          description = "Where the sweep fetches the recipe from (its mirror). Required when enrolled.";
        };
        upstream = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "https://git.coopcloud.tech/coop-cloud/${name}.git";
          description = "The upstream the mirror follows; the sweep syncs the mirror from it first.";
        };
        gitea_repo = mkOption {
          type = types.nullOr ownerName;
          default = null;
          example = "recipes/${name}";
          description = "The mirror's repository on Gitea, whose redundant pull requests the sync closes.";
        };
        health = mkOption {
          type = healthType;
          default = { };
          description = "The app's health probe.";
        };
        timeouts = {
          deploy = mkOption {
            type = types.nullOr types.ints.positive;
            default = null;
            description = "Seconds one deploy may take to converge (null: the recipe's timeout label, else 300).";
          };
          test = mkOption {
            type = types.ints.positive;
            default = 300;
            description = "Seconds one test or hook may take.";
          };
        };
        env = mkOption {
          type = types.attrsOf types.str;
          default = { };
          description = "Extra app env, on top of `.env.sample`.";
        };
        marker_hooks = mkOption {
          type = types.attrsOf types.str;
          default = { };
          example = {
            db = "hooks/backup-marker";
          };
          description = "Data-marker hooks by service, relative to the recipe's tests.";
        };
        dependencies = mkOption {
          type = types.listOf dependencyType;
          default = [ ];
          description = "Other recipes deployed beside the app in each run.";
        };
        budget = {
          memory_mb = mkOption {
            type = types.nullOr types.ints.positive;
            default = null;
            description = "MiB of memory one app of the recipe takes at its peak (null: learnt from its runs).";
          };
          disk_mb = mkOption {
            type = types.nullOr types.ints.positive;
            default = null;
            description = "MiB of disk one app of the recipe takes at its peak (null: learnt from its runs).";
          };
        };
        tests = mkOption {
          type = types.nullOr types.path;
          default = null;
          example = literalExpression "./ccci/${name}";
          description = ''
            A directory with the recipe's own tests and hooks (`custom/`, `hooks/`,
            `<tier>/`). Null: the package's `recipes/${name}/`, when it has one.
          '';
        };
      };
    }
  );

  recipeSettings =
    r:
    lib.filterAttrsRecursive (_: v: v != null) {
      schema = 1;
      inherit (r)
        enrolled
        approved
        repo
        upstream
        gitea_repo
        health
        timeouts
        env
        marker_hooks
        ;
      dependencies = map (d: removeAttrs d [ "_module" ]) r.dependencies;
    }
    // lib.optionalAttrs (r.budget.memory_mb != null || r.budget.disk_mb != null) {
      budget = lib.filterAttrs (_: v: v != null) r.budget;
    };

  packagedRecipes = "${cfg.package}/share/ccci/recipes";

  # `_generic/` from the package, and one folder per configured recipe: its
  # tests (configured, or the package's) and the generated recipe.json. A
  # recipe of the package that is not configured is not here, so it is never
  # swept (the packaged demo has no repository).
  recipesDir =
    pkgs.runCommand "ccci-recipes"
      {
        passthru.recipes = lib.mapAttrs (_: recipeSettings) cfg.recipes;
      }
      (
        ''
          mkdir -p $out
          ln -s ${packagedRecipes}/_generic $out/_generic
        ''
        + lib.concatStrings (
          lib.mapAttrsToList (name: r: ''
            mkdir $out/${name}
            tests=${if r.tests != null then "${r.tests}" else "${packagedRecipes}/${name}"}
            if [ -d "$tests" ]; then
              for f in "$tests"/* "$tests"/.[!.]*; do
                [ -e "$f" ] || continue
                [ "$(basename "$f")" = recipe.json ] || ln -s "$f" $out/${name}/
              done
            fi
            cp ${
              pkgs.writeText "ccci-recipe-${name}.json" (builtins.toJSON (recipeSettings r))
            } $out/${name}/recipe.json
          '') cfg.recipes
        )
      );

  # ---- units -----------------------------------------------------------------

  stateDir = cfg.settings.state_dir;
  stateDirectory =
    if lib.hasPrefix "/var/lib/" stateDir then lib.removePrefix "/var/lib/" stateDir else null;
  dockerRoot = docker.daemon.settings.data-root or "/var/lib/docker";
  # The top directory of Docker's root (/var for /var/lib/docker): `restic
  # restore --target /` also restores the metadata (times) of every parent of
  # the volume paths it restores into, and fails on a read-only one.
  dockerRootTop = "/" + builtins.head (lib.filter (s: s != "") (lib.splitString "/" dockerRoot));
  localMirrors = lib.unique (
    lib.concatMap (
      r: lib.optional (r.upstream != null && r.repo != null && lib.hasPrefix "/" r.repo) "-${r.repo}"
    ) (lib.attrValues cfg.recipes)
  );
  listenPort =
    let
      l = cfg.settings.bridge.listen;
    in
    if l == null then null else lib.toInt (lib.last (lib.splitString ":" l));

  units = import ./units.nix {
    inherit lib stateDir stateDirectory;
    exe = lib.getExe' cfg.package;
    docDir = "${cfg.package}/share/doc/ccci";
    deployPaths = [
      "${dockerRoot}/volumes"
      dockerRootTop
    ]
    ++ localMirrors;
    extraPaths = cfg.extraReadWritePaths;
    credentials = {
      gitea-token = if cfg.gitea.tokenFile != null then toString cfg.gitea.tokenFile else null;
      webhook-secret =
        if cfg.bridge.webhookSecretFile != null then toString cfg.bridge.webhookSecretFile else null;
    };
    environment = lib.optionalAttrs (cfg.settings.gitea_url != null) {
      CCCI_GITEA_URL = cfg.settings.gitea_url;
    };
    runtimeMaxSec = cfg.runMaxRuntime;
    reaperInterval = cfg.reaper.interval;
    reaperGrace = cfg.reaper.grace;
    sweepDates = cfg.sweep.dates;
    bridgeRunsDirect = cfg.settings.bridge.launcher == "direct";
    bridgeBindsLowPort = listenPort != null && listenPort < 1024;
  };

  # The unit as NixOS takes it: the comments are for the rendered files only.
  nixosUnit = u: removeAttrs u [ "comments" ];
in
{
  options.services.ccci = {
    enable = mkEnableOption "ccci, continuous integration for Co-op Cloud recipes";

    package = mkPackageOption pkgs "ccci" { };

    settings = mkOption {
      type = settingsType;
      default = { };
      description = ''
        Contents of /etc/ccci/config.json: every key ccci reads, typed (a key it
        does not know is an error). The options below set the common ones.
      '';
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = "Check the config file with `ccci-config check` at build time.";
    };

    probeImage = mkOption {
      type = types.nullOr imageRef;
      default = null;
      example = "registry.example.org/ccci/busybox:1.36";
      description = ''
        Image the health probe runs in, on the app's network: it needs `wget` and
        `nc` (busybox has both). It must be on this host (pre-pull it); the
        preflight of every run checks. There is no default: ccci's own is the
        test rig's registry.
      '';
    };

    maxParallelRuns = mkOption {
      type = types.ints.between 1 1000;
      default = 1;
      description = "How many runs may deploy at once on this host.";
    };

    minFreeDiskMb = mkOption {
      type = types.ints.between 0 1073741824;
      default = 2048;
      description = ''
        MiB that must be free on Docker's data root before a deploy, or the deploy
        is refused as temporary trouble (an upgrade briefly holds both releases'
        images). 0: no check.
      '';
    };

    budgetMemoryMb = mkOption {
      type = types.ints.between 0 1073741824;
      default = 0;
      description = ''
        MiB of memory the runs side by side may take together: a run waits,
        saying for what, while its need does not fit beside the runs going and
        the shared dependency apps. A run's need is declared in its
        recipe.json (`budget`) or learnt from its last runs. 0: three quarters
        of the host's memory.
      '';
    };

    budgetDiskMb = mkOption {
      type = types.ints.between 0 1073741824;
      default = 0;
      description = ''
        MiB of disk the runs and shared dependency apps may take together.
        0: no cap beyond what Docker's data root has free above
        `minFreeDiskMb`, which runs always stay within.
      '';
    };

    runMaxRuntime = mkOption {
      type = timespan;
      default = "6h";
      description = ''
        `RuntimeMaxSec=` of `ccci-run@`: a run still going after this is stopped
        (and torn down). A backstop well above the per-step timeouts of a large
        recipe, so that a stuck run frees its run slot the same day.
      '';
    };

    gitea = {
      url = mkOption {
        type = types.nullOr httpUrl;
        default = null;
        example = "https://git.example.org/";
        description = "The Gitea or Forgejo server (its `ROOT_URL`) holding the recipes' pull requests and mirrors.";
      };
      tokenFile = mkOption {
        type = types.nullOr (types.either types.path types.str);
        default = null;
        example = "/run/secrets/ccci-gitea-token";
        description = ''
          File holding the bot's Gitea token, given to the units with
          `LoadCredential=gitea-token:...`. Not in the Nix store (it is world-readable):
          a path as a string, e.g. from agenix or sops-nix.
        '';
      };
    };

    bridge = {
      enable = mkEnableOption "the `!testme` bridge (ccci-bridge serve)";
      repos = mkOption {
        type = types.listOf ownerName;
        default = [ ];
        example = [ "recipes/custom-html" ];
        description = "Repositories whose pull requests are watched for `!testme`.";
      };
      orgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Organisations whose every repository is watched.";
      };
      webhookSecretFile = mkOption {
        type = types.nullOr (types.either types.path types.str);
        default = null;
        description = "File holding the webhooks' shared secret (credential `webhook-secret`); needed with `settings.bridge.listen`.";
      };
    };

    recipes = mkOption {
      type = types.attrsOf recipeType;
      default = { };
      description = ''
        Recipes ccci knows: each becomes `<recipes_dir>/<name>/recipe.json` next to
        the packaged generic tests. An enrolled recipe is swept weekly.
      '';
    };

    sweep = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Run the sweep of enrolled recipes on a timer.";
      };
      dates = mkOption {
        type = types.str;
        default = "Sun *-*-* 03:00:00";
        description = "When the sweep runs (`OnCalendar=`, systemd.time(7)); checked with `systemd-analyze calendar` at build time.";
      };
    };

    reaper = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Tear down what runs that died left behind, on a timer.";
      };
      interval = mkOption {
        type = timespan;
        default = "10min";
        description = "How often the reaper runs (a systemd time span).";
      };
      grace = mkOption {
        type = types.ints.positive;
        default = 900;
        description = "Seconds a run without a lock holder must have been quiet before it is reaped.";
      };
    };

    extraReadWritePaths = mkOption {
      type = types.listOf absolutePath;
      default = [ ];
      example = [ "/srv/mirrors" ];
      description = ''
        More paths the units may write (local mirrors a sync pushes to, when they
        are not the `repo` of a configured recipe, which is added by itself).
      '';
    };

    recipesDir = mkOption {
      type = types.package;
      default = recipesDir;
      readOnly = true;
      description = "The generated recipes directory (`_generic/` and one folder per configured recipe), the default of `settings.recipes_dir`.";
    };

    units = mkOption {
      type = types.raw;
      default = units;
      readOnly = true;
      internal = true;
      description = "The units of nix/units.nix as this configuration makes them, comments included (nix/render-units.nix renders systemd/ from them).";
    };

    extraPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = literalExpression "[ pkgs.curl pkgs.jq ]";
      description = "Programs the recipes' own tests and hooks run, on the units' PATH.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !docker.liveRestore && !(docker.daemon.settings.live-restore or false);
        message = "services.ccci: Docker's live-restore is on, and swarm mode does not work with it: set virtualisation.docker.liveRestore = false.";
      }
      {
        assertion = cfg.settings.probe_image != null;
        message = "services.ccci.probeImage is not set: the health probe runs in a container of that image (with wget and nc, e.g. busybox), which must be on this host.";
      }
      {
        assertion = cfg.gitea.tokenFile == null || !inStore cfg.gitea.tokenFile;
        message = "services.ccci.gitea.tokenFile is in the Nix store, which every user can read: give the path as a string outside the store (e.g. \"/run/secrets/ccci-gitea-token\").";
      }
      {
        assertion = cfg.bridge.webhookSecretFile == null || !inStore cfg.bridge.webhookSecretFile;
        message = "services.ccci.bridge.webhookSecretFile is in the Nix store, which every user can read: give the path as a string outside the store.";
      }
      {
        assertion =
          !cfg.bridge.enable
          || (
            cfg.settings.gitea_url != null
            && cfg.gitea.tokenFile != null
            && (cfg.settings.bridge.repos != [ ] || cfg.settings.bridge.orgs != [ ])
          );
        message = "services.ccci.bridge needs gitea.url, gitea.tokenFile and at least one of bridge.repos or bridge.orgs.";
      }
      {
        assertion =
          cfg.settings.bridge.listen == null
          || cfg.bridge.webhookSecretFile != null
          || cfg.settings.bridge.webhook_secret_file != null;
        message = "services.ccci.settings.bridge.listen is set but no webhook secret is: set services.ccci.bridge.webhookSecretFile.";
      }
    ]
    ++ lib.concatLists (
      lib.mapAttrsToList (name: r: [
        {
          assertion = builtins.match "[a-z0-9][a-z0-9_-]*" name != null;
          message = "services.ccci.recipes.${name}: a recipe name is lower-case letters, digits, - and _ (and not _generic).";
        }
        {
          assertion = !r.enrolled || r.repo != null;
          message = "services.ccci.recipes.${name} is enrolled but has no repo: the sweep would fail on it every week.";
        }
        {
          assertion =
            r.gitea_repo == null
            || r.upstream == null
            || (cfg.settings.gitea_url != null && cfg.gitea.tokenFile != null);
          message = "services.ccci.recipes.${name}.gitea_repo: its mirror sync closes pull requests on Gitea, which needs services.ccci.gitea.url and gitea.tokenFile.";
        }
      ]) cfg.recipes
    );

    warnings = lib.optional (cfg.settings.gitea_url != null && cfg.gitea.tokenFile == null) "services.ccci.gitea.url is set without gitea.tokenFile: runs cannot report to pull requests.";

    # ccci drives the local engine, which must be a swarm manager: the
    # preflight of every run says what to run when it is not.
    virtualisation.docker.enable = true;
    # nixpkgs turns live-restore on for older stateVersions; swarm mode refuses it.
    virtualisation.docker.liveRestore = mkDefault false;

    environment.systemPackages = [ cfg.package ];
    environment.etc."ccci/config.json".source = configFile;

    systemd.tmpfiles.rules = lib.optional (stateDirectory == null) "d ${stateDir} 0700 root root - -";

    systemd.services = {
      ccci-reap = mkIf cfg.reaper.enable (
        nixosUnit units.services.ccci-reap
        // {
          restartIfChanged = false;
          path = cfg.extraPackages;
        }
      );
      "ccci-run@" = nixosUnit units.services."ccci-run@" // {
        # A running CI run is never restarted by a rebuild.
        restartIfChanged = false;
        path = cfg.extraPackages;
      };
      ccci-sweep = mkIf cfg.sweep.enable (
        nixosUnit units.services.ccci-sweep
        // {
          restartIfChanged = false;
          path = cfg.extraPackages;
        }
      );
      ccci-bridge = mkIf cfg.bridge.enable (
        nixosUnit units.services.ccci-bridge
        // {
          wantedBy = [ "multi-user.target" ];
          restartTriggers = [ configFile ];
          path = cfg.extraPackages;
        }
      );
    };

    systemd.timers = {
      ccci-reap = mkIf cfg.reaper.enable (nixosUnit units.timers.ccci-reap);
      ccci-sweep = mkIf cfg.sweep.enable (nixosUnit units.timers.ccci-sweep);
    };
  };
}
