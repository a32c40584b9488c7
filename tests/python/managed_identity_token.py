"""Get an ARM token with azure-identity's ManagedIdentityCredential for the
user-assigned identity AZEMU_CLIENT_ID, and print it.

The credential finds the endpoint itself: AZURE_POD_IDENTITY_AUTHORITY_HOST
(IMDS style) or IDENTITY_ENDPOINT + IDENTITY_HEADER (App Service style).
"""

import os

from azure.identity import ManagedIdentityCredential

cred = ManagedIdentityCredential(client_id=os.environ["AZEMU_CLIENT_ID"])
print(cred.get_token("https://management.azure.com/.default").token)
