# Writes .\kubeconfig from the template, pointing at this pod's service-account files.
$ErrorActionPreference = "Stop"
$sa = "$env:CONTAINER_SANDBOX_MOUNT_POINT\var\run\secrets\kubernetes.io\serviceaccount"
$server = "https://$($env:KUBERNETES_SERVICE_HOST):$($env:KUBERNETES_SERVICE_PORT)"
(Get-Content .\kubeconfigtemplate.yaml) `
    -replace '<ca-file>', "$sa\ca.crt" `
    -replace '<server>', $server `
    -replace '<token-file>', "$sa\token" | Set-Content .\kubeconfig
