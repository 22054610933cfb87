{
  description = "ccci: continuous integration for Co-op Cloud recipes on Docker Swarm";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: {
        ccci = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (pkgs: rec {
        ccci = pkgs.callPackage ./nix/package.nix { };
        default = ccci;
      });

      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.ccci.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);

      checks = forAllSystems (
        pkgs:
        let
          inherit (pkgs) lib;
          system = pkgs.stdenv.hostPlatform.system;
          # The module on a real NixOS, fully configured: evaluating it runs the
          # assertions, and building these runs `ccci-config check` on the config
          # file and renders the units as NixOS does.
          host = nixpkgs.lib.nixosSystem {
            inherit system;
            modules = [
              self.nixosModules.default
              ./nix/tests/host.nix
            ];
          };
          inherit (host.config.systemd) units;
          failed = map (a: a.message) (lib.filter (a: !a.assertion) host.config.assertions);
        in
        {
          # The package, with its unit tests (doCheck; tests/ need Docker).
          package = self.packages.${system}.default;

          module =
            assert lib.assertMsg (failed == [ ]) "nix/tests/host.nix: ${lib.concatStringsSep "; " failed}";
            pkgs.linkFarm "ccci-module-check" [
              {
                name = "config.json";
                path = host.config.environment.etc."ccci/config.json".source;
              }
              {
                name = "recipes";
                path = host.config.services.ccci.recipesDir;
              }
              {
                name = "ccci-run@.service";
                path = units."ccci-run@.service".unit;
              }
              {
                name = "ccci-sweep.service";
                path = units."ccci-sweep.service".unit;
              }
              {
                name = "ccci-bridge.service";
                path = units."ccci-bridge.service".unit;
              }
              {
                name = "ccci-reap.service";
                path = units."ccci-reap.service".unit;
              }
            ];

          # The stubbed evaluation of scripts/check-nix.sh, with nixpkgs's own lib.
          module-stubbed =
            pkgs.runCommand "ccci-module-stubbed"
              {
                nativeBuildInputs = [ pkgs.nix ];
              }
              ''
                # A private store and state, as nixpkgs's own lib tests do.
                export NIX_CONFIG='build-users-group =' TEST_ROOT=$TMPDIR/nix
                export NIX_STORE_DIR=$TEST_ROOT/store NIX_STATE_DIR=$TEST_ROOT/var
                export NIX_LOCALSTATE_DIR=$TEST_ROOT/var NIX_LOG_DIR=$TEST_ROOT/log
                export NIX_CONF_DIR=$TEST_ROOT/etc
                nix-store --init
                nix-instantiate --eval --strict --json ${self}/nix/tests/eval.nix \
                  --arg lib 'import ${nixpkgs}/lib' >$out
              '';

          formatting =
            pkgs.runCommand "ccci-formatting"
              {
                nativeBuildInputs = [
                  pkgs.nixfmt-rfc-style
                  pkgs.rustfmt
                ];
              }
              ''
                cd ${self}
                nixfmt --check flake.nix nix/*.nix nix/tests/*.nix
                find bins crates -name '*.rs' -exec rustfmt --edition 2024 --check {} +
                touch $out
              '';
        }
        # Boots a NixOS VM with the module, Docker in swarm mode and a local
        # registry, and runs the demo through ccci-run@: needs KVM, which the
        # machine that wrote it did not have (it was never run there).
        // lib.optionalAttrs (system == "x86_64-linux") {
          vm = pkgs.testers.runNixOSTest (import ./nix/tests/vm.nix { inherit self; });
        }
      );
    };
}
