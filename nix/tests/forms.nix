# The two forms of the module's configuration the tests evaluate: the
# default (only what has no default) and a fully configured host. Used by
# nix/tests/eval.nix and scripts/check-nix.sh.
{ stubs }:
{
  default = {
    services.ccci = {
      enable = true;
      probeImage = "registry.example.org/ccci/busybox:1.36";
    };
  };

  full = {
    services.ccci = {
      enable = true;
      probeImage = "registry.example.org/ccci/busybox:1.36";
      maxParallelRuns = 2;
      runMaxRuntime = "3h";
      gitea = {
        url = "https://git.example.org/";
        tokenFile = "/run/secrets/ccci-gitea-token";
      };
      bridge = {
        enable = true;
        repos = [ "recipes/custom-html" ];
        webhookSecretFile = "/run/secrets/ccci-webhook-secret";
      };
      settings = {
        state_dir = "/srv/ccci";
        base_domain = "ci.example.org";
        public_url = "https://ci.example.org/";
        bridge.listen = "127.0.0.1:8087";
        bridge.allow = [ "alice" ];
      };
      recipes.custom-html = {
        repo = "/srv/mirrors/custom-html.git";
        upstream = "https://git.coopcloud.tech/coop-cloud/custom-html.git";
        gitea_repo = "recipes/custom-html";
      };
      recipes.keycloak = {
        repo = "https://git.example.org/recipes/keycloak.git";
        health = {
          port = 8080;
          start_window = 120;
        };
        timeouts.deploy = 600;
        marker_hooks.db = "hooks/backup-marker";
        env.LOG_LEVEL = "debug";
        budget.memory_mb = 1536;
      };
      sweep.dates = "Sat *-*-* 04:30:00";
      reaper.interval = "5min";
      extraReadWritePaths = [ "/srv/mirrors" ];
      extraPackages = [ stubs.pkgs.curl ];
    };
    virtualisation.docker.daemon.settings.data-root = "/data/docker";
  };
}
