document.getElementById('auth')!.textContent = 'Twofold Authenticator';
