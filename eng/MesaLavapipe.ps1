# The newer lavapipe (Mesa 25 from Debian bookworm-backports) without installing it: the `mesa` target
# of build.ps1, also run by `test` (tests/WfVae.Tests/Runtime/Mesa25Tests.cs checks the engine on it).
# Dot-sourced by build.ps1 (it provides Fail, Invoke-Native, Write-Step, Test-DebianLike, Test-Command).
#
# The packages are downloaded with apt-get from a private configuration (its own sources.list, lists
# and cache under the cache folder, so the system's apt setup is left alone), unpacked with dpkg -x, and
# an ICD manifest with an absolute library_path is written beside them. A process then uses that driver
# alone with VK_DRIVER_FILES=<cache>/lvp_icd.json and LD_LIBRARY_PATH=<cache>/lib (its newer libdrm).
# The remaining dependencies (libllvm15, libxcb*, ...) are those of the system's mesa-vulkan-drivers,
# which `setup` installs.

$MesaSuite = 'bookworm-backports'
$MesaMajor = '25'
# The driver and the two libraries it needs newer than Debian 12 has (same suite).
$MesaDebs = @('mesa-vulkan-drivers', 'libdrm2', 'libdrm-amdgpu1')

function Get-MesaCache {
    if ($env:WFVAE_MESA_CACHE) { return $env:WFVAE_MESA_CACHE }
    return (Join-Path (Get-WfVaeUserCache) "mesa-$MesaMajor")
}

# Downloads the packages of $MesaSuite into <cache>/debs (apt-get download; nothing is installed).
function Get-MesaDebs([string]$Cache) {
    $debs = Join-Path $Cache 'debs'
    if (Test-Path $debs) { Remove-Item -Recurse -Force $debs }
    New-Item -ItemType Directory -Force -Path $debs | Out-Null
    $apt = Get-PrivateAptOptions $Cache 'deb' @($MesaSuite)
    Invoke-Native 'apt-get' ($apt + @('-q', 'update')) | Out-Host
    Push-Location $debs
    try { Invoke-Native 'apt-get' ($apt + @('download') + @($MesaDebs | ForEach-Object { "$_/$MesaSuite" })) | Out-Host }
    finally { Pop-Location }
    $driver = Get-ChildItem -Path $debs -Filter 'mesa-vulkan-drivers_*.deb' | Select-Object -First 1
    if (-not $driver) { Fail "mesa: apt-get download left no mesa-vulkan-drivers .deb in $debs" }
    $version = (& dpkg-deb -f $driver.FullName Version)
    if (-not $version.StartsWith("$MesaMajor.")) { Fail "mesa: $MesaSuite has mesa-vulkan-drivers $version, not Mesa $MesaMajor" }
    return $version
}

# Unpacks every .deb into <cache>/root and writes <cache>/lvp_icd.json with an absolute library_path.
function Expand-MesaDebs([string]$Cache, [string]$Version) {
    $root = Join-Path $Cache 'root'
    if (Test-Path $root) { Remove-Item -Recurse -Force $root }
    foreach ($deb in Get-ChildItem -Path (Join-Path $Cache 'debs') -Filter '*.deb') {
        Invoke-Native 'dpkg' @('-x', $deb.FullName, $root) | Out-Host
    }
    $lvp = Get-ChildItem -Path $root -Recurse -Filter 'libvulkan_lvp.so' | Select-Object -First 1
    if (-not $lvp) { Fail "mesa: the unpacked packages in $root have no libvulkan_lvp.so" }
    $missing = @(& env "LD_LIBRARY_PATH=$($lvp.DirectoryName)" ldd $lvp.FullName | Where-Object { $_ -match 'not found' })
    if ($missing.Count -gt 0) {
        Fail "mesa: $($lvp.FullName) needs libraries this system lacks (run setup, which installs mesa-vulkan-drivers and its dependencies):`n$($missing -join "`n")"
    }
    $icd = Get-ChildItem -Path $root -Recurse -Filter 'lvp_icd*.json' | Select-Object -First 1
    if (-not $icd) { Fail "mesa: the unpacked packages in $root have no lvp_icd*.json" }
    $manifest = Get-Content -Raw -LiteralPath $icd.FullName | ConvertFrom-Json
    $manifest.ICD.library_path = $lvp.FullName
    Set-Content -LiteralPath (Join-Path $Cache 'lvp_icd.json') -Value ($manifest | ConvertTo-Json -Depth 4)
    Set-Content -LiteralPath (Join-Path $Cache 'lib.txt') -Value $lvp.DirectoryName
    Set-Content -LiteralPath (Join-Path $Cache 'version.txt') -Value $Version
}

# Fetches and unpacks once; later runs only check the cache (no network). Prints the environment to use.
function Invoke-Mesa {
    Write-Step "mesa: lavapipe from Mesa $MesaMajor ($MesaSuite)"
    $cache = Get-MesaCache
    $icd = Join-Path $cache 'lvp_icd.json'
    $versionFile = Join-Path $cache 'version.txt'
    $ready = (Test-Path $icd) -and (Test-Path $versionFile) -and
        (Test-Path ((Get-Content -Raw -LiteralPath $icd | ConvertFrom-Json).ICD.library_path))
    if ($ready) {
        Write-Host "mesa: Mesa $((Get-Content -LiteralPath $versionFile).Trim()) is ready in $cache"
    }
    else {
        if (-not (Test-DebianLike) -or -not (Test-Command 'apt-get')) { Fail 'mesa: fetches Debian packages with apt-get: run it on Debian or Ubuntu' }
        $version = Get-MesaDebs $cache
        Expand-MesaDebs $cache $version
        Write-Host "mesa: Mesa $version unpacked into $cache"
    }
    $lib = (Get-Content -LiteralPath (Join-Path $cache 'lib.txt')).Trim()
    Write-Host 'mesa: to run on it (this driver only):'
    [Console]::Out.WriteLine("export VK_DRIVER_FILES=$icd")
    [Console]::Out.WriteLine("export LD_LIBRARY_PATH=$lib`${LD_LIBRARY_PATH:+:`$LD_LIBRARY_PATH}")
    [Console]::Out.Flush()
}
