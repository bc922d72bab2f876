# strata from a built checkout of this repository (`pnpm install && pnpm build`): the @strata/cli
# package directory with what it runs, imported into the store and nothing else (no sources, no
# dev tools, no caches). The result is the package directory: `${result}/dist/bin.js` is the CLI.
#
# pnpm keeps each package in node_modules/.pnpm/<name>@<version>[_<peers>]/node_modules/<name>
# and links it where it is needed (relative links). The runtime closure is found here, at
# evaluation time, from the package.json files alone: a workspace package contributes its
# package.json, dist/ and the links to its dependencies; a third-party package its whole .pnpm
# entry (the package and the links to its own dependencies). Links stay links in the store.
{ src ? ../. }:
let
  root = toString src;
  at = rel: "${root}/${rel}";
  exists = rel: builtins.pathExists (at rel);
  readJSON = rel: builtins.fromJSON (builtins.readFile (at rel));

  cli = "packages/cli";
  missingBuild = throw ''
    strata: ${at cli}/dist/bin.js does not exist: build the checkout first (pnpm install && pnpm build),
    or give the library a built strata: import ${root}/nix { strata = /path/to/a/deployed/@strata/cli; }'';

  # Workspace packages by name (pnpm-workspace.yaml lists packages/*).
  workspace = builtins.listToAttrs (builtins.concatMap
    (dir:
      let rel = "packages/${dir}";
      in if exists "${rel}/package.json" then [{ name = (readJSON "${rel}/package.json").name; value = rel; }] else [ ])
    (builtins.attrNames (builtins.readDir (at "packages"))));

  pnpmEntries = if exists "node_modules/.pnpm" then builtins.attrNames (builtins.readDir (at "node_modules/.pnpm")) else [ ];

  # .pnpm entry names of name@version: `@scope/x` is spelled `@scope+x`, peers follow after `_`.
  entriesOf = name: version:
    let
      stem = "${builtins.replaceStrings [ "/" ] [ "+" ] name}@${version}";
      n = builtins.stringLength stem;
      matches = e: e == stem || (builtins.substring 0 (n + 1) e == "${stem}_" || builtins.substring 0 (n + 1) e == "${stem}(");
    in builtins.filter matches pnpmEntries;

  # Node's search for `dep` from the directory `from`: from/node_modules/dep, then each parent's.
  locate = from: dep:
    let here = if from == "." then "node_modules/${dep}" else "${from}/node_modules/${dep}";
    in if exists "${here}/package.json" then here
    else if from == "." then null
    else locate (dirOf from) dep;

  # The real directory (or directories, for peer variants) of the package found at `loc`.
  realDirs = loc:
    let
      parent = dirOf loc;
      kind = (builtins.readDir (at parent)).${baseNameOf loc} or "directory";
      pkg = readJSON "${loc}/package.json";
      entries = entriesOf pkg.name pkg.version;
    in if kind != "symlink" then [ loc ]
    else if workspace ? ${pkg.name} then [ workspace.${pkg.name} ]
    else if entries == [ ] then throw ''
      strata: cannot find ${pkg.name}@${pkg.version} (linked at ${at loc}) in ${at "node_modules/.pnpm"};
      run pnpm install in ${root}, or give the library a built strata (see README: Using strata from Nix)''
    else map (e: "node_modules/.pnpm/${e}/node_modules/${pkg.name}") entries;

  dependenciesOf = dir:
    let pkg = readJSON "${dir}/package.json";
    in builtins.attrNames ((pkg.dependencies or { }) // (pkg.optionalDependencies or { }));

  # Where each of a package's dependencies is found from it (a link, or a directory).
  dependencyLinks = dir: builtins.filter (loc: loc != null) (map (locate dir) (dependenciesOf dir));

  # The real directory of every package the CLI runs with.
  closure = map (item: item.key) (builtins.genericClosure {
    startSet = [{ key = cli; }];
    operator = item: map (dir: { key = dir; }) (builtins.concatMap realDirs (dependencyLinks item.key));
  });

  isWorkspaceDir = dir: builtins.elem dir (builtins.attrValues workspace);
  components = dir: builtins.filter builtins.isString (builtins.split "/" dir);
  pnpmEntryOf = dir: builtins.concatStringsSep "/" (builtins.genList (builtins.elemAt (components dir)) 3);

  # What the store copy holds: whole subtrees (`roots`) and the directories on the way to them.
  roots = builtins.concatMap
    (dir:
      dependencyLinks dir
      ++ (if isWorkspaceDir dir then [ "${dir}/package.json" "${dir}/dist" ]
      else if builtins.substring 0 19 dir == "node_modules/.pnpm/" then [ (pnpmEntryOf dir) ]
      else [ dir ]))
    closure;
  set = names: builtins.listToAttrs (map (name: { inherit name; value = true; }) names);
  rootSet = set roots;
  ancestors = rel: let d = dirOf rel; in if d == "." || d == rel then [ ] else [ d ] ++ ancestors d;
  ancestorSet = set (builtins.concatMap ancestors roots);
  within = rel: rootSet ? ${rel} || (let d = dirOf rel; in d != "." && d != rel && within d);
  keep = path: _type:
    let rel = builtins.substring (builtins.stringLength root + 1) (-1) (toString path);
    in ancestorSet ? ${rel} || within rel;

  imported = builtins.path { path = src; name = "strata"; filter = keep; };
in
if exists "${cli}/dist/bin.js" then "${imported}/${cli}" else missingBuild
