document.getElementById('app')!.textContent = 'Twofold';
