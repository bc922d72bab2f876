# nixpkgs' dockerTools helpers: store paths to put in `contents` / `copyToRoot`, and shadowSetup.
# With nixpkgs they are made as nixpkgs makes them (runCommand, bash, coreutils, cacert, fakeNss);
# without, by strata's builder from the packages the library was given.
{ lib, pkgs, bash, coreutils, cacert, write, ... }:
let
  withPkgs = pkgs != null;
  need = what: value: nixpkgsName:
    if value != null then value
    else throw "strata: ${what} needs a package the library was not given: import strata's nix/ with { ${nixpkgsName} = ...; } (nixpkgs uses pkgs.${nixpkgsName}), or with { pkgs = import <nixpkgs> { }; }";

  links = name: entries:
    if withPkgs then
      pkgs.runCommand name { } (builtins.concatStringsSep "\n" (map (e: ''
        mkdir -p "$out/${dirOf e.path}"
        ln -s ${e.symlink} "$out/${e.path}"
      '') entries))
    else write name entries;

  # The host's bundle, imported into the store by content: the helper without nixpkgs' cacert.
  hostBundle =
    let found = builtins.filter builtins.pathExists [ "/etc/ssl/certs/ca-certificates.crt" "/etc/pki/tls/certs/ca-bundle.crt" "/etc/ssl/cert.pem" ];
    in if found == [ ] then throw "strata: caCertificates: the host has no CA bundle and no cacert was given (nixpkgs uses pkgs.cacert)"
    else builtins.path { path = builtins.head found; name = "ca-bundle.crt"; };
  bundle = if cacert != null then "${cacert}/etc/ssl/certs/ca-bundle.crt" else hostBundle;

  makeFakeNss = { extraPasswdLines ? [ ], extraGroupLines ? [ ] }@args:
    let
      lines = xs: builtins.concatStringsSep "" (map (l: "${l}\n") xs);
      made = write "fake-nss" [
        { path = "etc/passwd"; text = lines ([ "root:x:0:0:root user:/var/empty:/bin/sh" ] ++ extraPasswdLines ++ [ "nobody:x:65534:65534:nobody:/var/empty:/bin/sh" ]); }
        { path = "etc/group"; text = lines ([ "root:x:0:" ] ++ extraGroupLines ++ [ "nobody:x:65534:" ]); }
        { path = "etc/nsswitch.conf"; text = "hosts: files dns\n"; }
        { path = "var/empty"; directory = true; }
      ];
    in made // { override = more: makeFakeNss (args // more); };
in
{
  # /bin/sh → bash's bin/bash.
  binSh = links "bin-sh" [{ path = "bin/sh"; symlink = "${need "binSh" bash "bash"}/bin/bash"; }];

  # /usr/bin/env → coreutils' bin/env, for `#!/usr/bin/env` scripts.
  usrBinEnv = links "usr-bin-env" [{ path = "usr/bin/env"; symlink = "${need "usrBinEnv" coreutils "coreutils"}/bin/env"; }];

  # The CA bundle at the three paths programs look for it.
  caCertificates = links "ca-certificates" (map (path: { inherit path; symlink = bundle; }) [
    "etc/ssl/certs/ca-bundle.crt"
    "etc/ssl/certs/ca-certificates.crt"
    "etc/pki/tls/certs/ca-bundle.crt"
  ]);

  # /etc/passwd and /etc/group with root and nobody, /etc/nsswitch.conf, /var/empty;
  # `fakeNss.override { extraPasswdLines = [ ... ]; extraGroupLines = [ ... ]; }` adds users.
  fakeNss = if withPkgs then pkgs.fakeNss else makeFakeNss { };

  # Sets up /etc/passwd, /etc/group, their shadow files, PAM's `other` and login.defs where missing,
  # so shadow's useradd and groupadd work in runAsRoot or (with enableFakechroot) fakeRootCommands.
  # Without nixpkgs, shadow's tools are the host's (/usr/sbin).
  shadowSetup =
    let
      runtimeShell = if withPkgs then pkgs.runtimeShell else "/bin/sh";
      path = if withPkgs then "export PATH=${pkgs.shadow}/bin:$PATH" else "export PATH=$PATH:/usr/sbin:/sbin";
    in ''
      ${path}
      mkdir -p /etc/pam.d
      if [ ! -f /etc/passwd ]; then
        echo "root:x:0:0::/root:${runtimeShell}" > /etc/passwd
        echo "root:!x:::::::" > /etc/shadow
      fi
      if [ ! -f /etc/group ]; then
        echo "root:x:0:" > /etc/group
        echo "root:x::" > /etc/gshadow
      fi
      if [ ! -f /etc/pam.d/other ]; then
        printf '%s\n' 'account sufficient pam_unix.so' 'auth sufficient pam_rootok.so' \
          'password requisite pam_unix.so nullok yescrypt' 'session required pam_unix.so' > /etc/pam.d/other
      fi
      if [ ! -f /etc/login.defs ]; then
        touch /etc/login.defs
      fi
    '';
}
